"""Other processes' CPU load while the idle baseline is measured, and the warning it calls for.

On a loaded machine torch's intra-op threads wait for each other behind other processes: with
torch's default 2 threads beside two busy loops on a 2-core machine, a Linear(16, 32) layer
measured 4 ms a call instead of 5 us, and its figure moved 10x between rounds. The profiler cannot
remove that load, but it can see it: during the idle baseline this process sleeps, so the CPU
time of the whole machine (``/proc/stat``) less this process's own (the sampler thread) is what
others use. When that plus torch's threads exceeds the CPUs this process may run on, the report
says so, with what to do.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Optional

PROC_STAT = "/proc/stat"
# Below this the count of clock ticks (100 Hz) is too coarse to judge: 0.2 s is 20 ticks a CPU.
MIN_WINDOW_S = 0.2


@dataclass(frozen=True)
class CpuSnapshot:
    busy_s: float  # CPU seconds all CPUs spent busy since boot (user, nice, system, irq, softirq, steal)
    own_s: float  # this process's CPU seconds (all its threads)
    t_s: float  # monotonic time


def snapshot(path: str = PROC_STAT) -> Optional[CpuSnapshot]:
    """The machine's busy CPU time and this process's, now; None where /proc/stat is missing."""
    try:
        with open(path) as f:
            first = f.readline().split()
        ticks = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None
    if len(first) < 5 or first[0] != "cpu":
        return None
    try:
        v = [int(x) for x in first[1:9]]
    except ValueError:
        return None
    v += [0] * (8 - len(v))  # kernels before 2.6.11 list fewer fields
    user, nice, system, _idle, _iowait, irq, softirq, steal = v
    return CpuSnapshot((user + nice + system + irq + softirq + steal) / ticks, time.process_time(), time.monotonic())


def others_cores(a: Optional[CpuSnapshot], b: Optional[CpuSnapshot]) -> Optional[float]:
    """CPUs' worth of work by other processes between two snapshots (None if not measurable)."""
    if a is None or b is None or b.t_s - a.t_s < MIN_WINDOW_S:
        return None
    return max(0.0, ((b.busy_s - a.busy_s) - (b.own_s - a.own_s)) / (b.t_s - a.t_s))


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def load_warning(others: Optional[float], torch_threads: int, cpus: int) -> Optional[str]:
    """The warning for other processes' load ``others`` (CPUs' worth) beside ``torch_threads``
    on ``cpus`` CPUs, or None. Half a CPU of others is the least that matters; torch's threads
    then no longer each find a free CPU once others + threads > cpus (a quarter CPU of slack for
    the tick counting)."""
    if others is None or others < 0.5 or others + torch_threads <= cpus + 0.25:
        return None
    free = max(1, int(cpus - others))
    fix = "Stop the other load"
    if free < torch_threads:
        fix += (f", or profile with torch.set_num_threads({free}) (what the deployment uses is what you should "
                "measure)")
    how = (f"torch's {torch_threads} threads wait for each other behind it" if torch_threads > 1
           else "the layers share a CPU with it")
    return (f"other processes kept {others:.1f} of {cpus} CPUs busy during the idle baseline while torch uses "
            f"{torch_threads} thread(s): {how}, so latencies and energies come out inflated and vary between "
            f"rounds. {fix}.")


__all__ = ["CpuSnapshot", "load_warning", "others_cores", "snapshot", "usable_cpus"]
