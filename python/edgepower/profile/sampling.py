"""The sampling rate and in-situ round length a profile uses when the caller leaves them out.

Where nothing special is known: 1 kHz and in-situ rounds of at most 5 s. In situ on an INA3221
that averages several conversions per reading (sysfs ``samples`` > 1, NVIDIA's device trees set
512), the readings are deconvolved (``attribution="auto"``) from the small step each refresh adds
to a long running average: they must be read at least twice per refresh (0.84 ms at N=512, 140
us, 3 channels) and over longer rounds. So there the defaults are 5 kHz and rounds of up to 15 s
(3 rounds: under 60 s of profiling): on the emulator at N=512 the small CNN's layers of 0.1-1 ms
erred by a median 0.2-1.2 % and at worst 1.1-2.8 % that way, against a median 18.7-22 % and worst
41 % at 1 kHz and 5 s rounds (docs/accuracy.md). Given values are always kept.

Isolation rounds and window length (``window_defaults``): 3 rounds of windows of at least 0.2 s
and 10 sensor updates, except on the CPU estimates (``cpu-process``, ``cpu-estimate``). Their
counter is the kernel's CPU time: for cpu-process it lags by at most one scheduler tick of each thread running
elsewhere at a window's edge, a zero-mean error. What spreads their figures is the machine
(scheduling, other tenants, the allocator's page faults), and it drifts over tens of seconds
beside other load (VGG11's layers moved together by -14 % to +13 % from round to round). So the
default there is 16 rounds of windows of at least 0.05 s (5 of the counter's 10 ms updates): many
short rounds sample the drift more often in the same time. On the 2-CPU VM, VGG11's conv and
linear layers had 95 % CIs of 5-65 % with 3 rounds of 0.2 s, 2.7-19.5 % with 8 of 0.1 s, and
4.1-12.7 % with 16 of 0.05 s; beside a 2-thread busy loop 5.2-9.2 %, but 19.4 % for conv1, which
page-faults its output (docs/accuracy.md). The profile took 123 s instead of about 50 s.
Student t: 4.30 / sqrt(3) = 2.48 times the spread of one round on 3 rounds, 2.13 / sqrt(16) =
0.53 on 16.
"""
from __future__ import annotations

from typing import Any, Optional, Tuple

from ..sensors.info import CPU_TIME_KINDS

DEFAULT_RATE_HZ = 1000.0
DEFAULT_MAX_ROUND_S = 5.0
RUNNING_AVERAGE_RATE_HZ = 5000.0
RUNNING_AVERAGE_MAX_ROUND_S = 15.0
DEFAULT_ROUNDS = 3
DEFAULT_MIN_WINDOW_S = 0.2
DEFAULT_K_UPDATES = 10.0
CPU_TIME_ROUNDS = 16
CPU_TIME_MIN_WINDOW_S = 0.05
CPU_TIME_K_UPDATES = 5.0


def _running_average(info: Any) -> int:
    """The INA3221's sysfs ``samples`` (averaged conversions per reading), or 0 if unknown."""
    if getattr(info, "kind", "") != "jetson-hwmon":
        return 0
    from .identify import hwmon_config

    try:
        return int(hwmon_config(info)["samples"])
    except ValueError:  # no readable samples file: the identification step will say so
        return 0


def sampling_defaults(info: Any, mode: str, attribution: str, rate_hz: Optional[float] = None,
                      max_round_s: Optional[float] = None) -> Tuple[float, float, str]:
    """``(rate_hz, max_round_s, why)``: the given values, else the defaults for this sensor and
    mode (module docstring)."""
    n = _running_average(info) if mode == "in-situ" and attribution == "auto" else 0
    if n > 1:
        rate, rounds = RUNNING_AVERAGE_RATE_HZ, RUNNING_AVERAGE_MAX_ROUND_S
        why = (f"in-situ deconvolution of the INA3221's running average (sysfs samples={n}): "
               f"{rate:g} Hz and rounds of up to {rounds:g} s unless given")
    else:
        rate, rounds = DEFAULT_RATE_HZ, DEFAULT_MAX_ROUND_S
        why = f"{rate:g} Hz and in-situ rounds of up to {rounds:g} s unless given"
    given = [x for x, v in (("rate_hz", rate_hz), ("max_round_s", max_round_s)) if v is not None]
    if given:
        why += f" ({', '.join(given)} given)"
    return (float(rate_hz) if rate_hz is not None else rate, float(max_round_s) if max_round_s is not None else rounds,
            why)


def window_defaults(info: Any, mode: str, rounds: Optional[int] = None, min_window_s: Optional[float] = None,
                    k_updates: Optional[float] = None) -> Tuple[int, float, float, str]:
    """``(rounds, min_window_s, k_updates, why)`` of an isolation profile: the given values, else
    the defaults for this sensor (module docstring)."""
    if mode == "isolation" and getattr(info, "kind", "") in CPU_TIME_KINDS:
        r, w, k = CPU_TIME_ROUNDS, CPU_TIME_MIN_WINDOW_S, CPU_TIME_K_UPDATES
        why = (f"{info.kind}: the machine's spread drifts from round to round, so {r} rounds of windows of at "
               f"least {w:g} s and {k:g} updates unless given")
    else:
        r, w, k = DEFAULT_ROUNDS, DEFAULT_MIN_WINDOW_S, DEFAULT_K_UPDATES
        why = f"{r} rounds of windows of at least {w:g} s and {k:g} updates unless given"
    given = [x for x, v in (("rounds", rounds), ("min_window_s", min_window_s), ("k_updates", k_updates))
             if v is not None]
    if given:
        why += f" ({', '.join(given)} given)"
    return (rounds if rounds is not None else r, float(min_window_s) if min_window_s is not None else w,
            float(k_updates) if k_updates is not None else k, why)


__all__ = ["CPU_TIME_KINDS", "CPU_TIME_K_UPDATES", "CPU_TIME_MIN_WINDOW_S", "CPU_TIME_ROUNDS", "DEFAULT_K_UPDATES",
           "DEFAULT_MAX_ROUND_S", "DEFAULT_MIN_WINDOW_S", "DEFAULT_ROUNDS", "DEFAULT_RATE_HZ", "RUNNING_AVERAGE_MAX_ROUND_S", "RUNNING_AVERAGE_RATE_HZ",
           "sampling_defaults", "window_defaults"]
