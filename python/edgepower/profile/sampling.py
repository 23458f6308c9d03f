"""The sampling rate and in-situ round length a profile uses when the caller leaves them out.

Where nothing special is known: 1 kHz and in-situ rounds of at most 5 s. In situ on an INA3221
that averages several conversions per reading (sysfs ``samples`` > 1, NVIDIA's device trees set
512), the readings are deconvolved (``attribution="auto"``) from the small step each refresh adds
to a long running average: they must be read at least twice per refresh (0.84 ms at N=512, 140
us, 3 channels) and over longer rounds. So there the defaults are 5 kHz and rounds of up to 15 s
(3 rounds: under 60 s of profiling): on the emulator at N=512 the small CNN's layers of 0.1-1 ms
erred by a median 0.2-1.2 % and at worst 1.1-2.8 % that way, against a median 18.7-22 % and worst
41 % at 1 kHz and 5 s rounds (docs/accuracy.md). Given values are always kept.

Isolation rounds and window length (``window_defaults``): 3 rounds of windows of at least 0.2 s,
except on the CPU estimates (``cpu-process``, ``cpu-estimate``). Their counter is the kernel's CPU
time, exact to a scheduler tick, so a window needs no more than 10 of its 10 ms updates; what
spreads their figures is the machine (scheduling, other tenants, the allocator), which changes
from round to round. There the default is 8 rounds of at least 0.1 s: on the 2-CPU VM, VGG11's
conv and linear layers had 95 % CIs of 5-65 % with 3 rounds of 0.2 s and 2.7-19.5 % with 8
rounds of 0.1 s (6-16 % beside a 2-thread busy loop; docs/accuracy.md). Student t: 4.30 /
sqrt(3) = 2.48 against 2.36 / sqrt(8) = 0.84 times the spread of one round, for 76 s instead of
50 s.
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
CPU_TIME_ROUNDS = 8
CPU_TIME_MIN_WINDOW_S = 0.1


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


def window_defaults(info: Any, mode: str, rounds: Optional[int] = None,
                    min_window_s: Optional[float] = None) -> Tuple[int, float, str]:
    """``(rounds, min_window_s, why)`` of an isolation profile: the given values, else the
    defaults for this sensor (module docstring)."""
    if mode == "isolation" and getattr(info, "kind", "") in CPU_TIME_KINDS:
        r, w = CPU_TIME_ROUNDS, CPU_TIME_MIN_WINDOW_S
        why = (f"{info.kind}: the kernel's CPU time varies from round to round more than within a "
               f"window, so {r} rounds of windows of at least {w:g} s unless given")
    else:
        r, w = DEFAULT_ROUNDS, DEFAULT_MIN_WINDOW_S
        why = f"{r} rounds of windows of at least {w:g} s unless given"
    given = [x for x, v in (("rounds", rounds), ("min_window_s", min_window_s)) if v is not None]
    if given:
        why += f" ({', '.join(given)} given)"
    return (rounds if rounds is not None else r, float(min_window_s) if min_window_s is not None else w, why)


__all__ = ["CPU_TIME_KINDS", "CPU_TIME_MIN_WINDOW_S", "CPU_TIME_ROUNDS", "DEFAULT_MAX_ROUND_S",
           "DEFAULT_MIN_WINDOW_S", "DEFAULT_ROUNDS", "DEFAULT_RATE_HZ", "RUNNING_AVERAGE_MAX_ROUND_S", "RUNNING_AVERAGE_RATE_HZ",
           "sampling_defaults", "window_defaults"]
