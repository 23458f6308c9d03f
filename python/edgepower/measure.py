"""``@edgepower.measure``: the energy of every call of a function.

::

    @edgepower.measure(sensor="auto", rate_hz=1000)
    def step(batch):
        return model(batch)

    step(x)
    print(step.last.energy_j, step.last.avg_power_w)   # the last call's Measurement
    step.measurements                                   # every call's, in order

Each call runs inside a window of its own (named after the function, or ``name=``). With
``monitor=`` the windows are marked on that (running) monitor; otherwise a monitor is started
for the call and stopped after it, so each call pays the sampler's start (a few sample periods).
``callback(measurement)`` is called after each call; the measurement is also logged at INFO on
the ``edgepower`` logger. Exceptions pass through; the window is measured all the same.
"""
from __future__ import annotations

import functools
import logging
from typing import Any, Callable, List, Optional, Union

from .measurement import Measurement
from .monitor import PowerMonitor

log = logging.getLogger("edgepower")


class Measured:
    """A function wrapped by :func:`measure`: call it as the function; ``measurements`` holds
    every call's :class:`~edgepower.Measurement`, ``last`` the latest (None before a call)."""

    def __init__(self, fn: Callable[..., Any], name: Optional[str], sensor: Any, rate_hz: float,
                 monitor: Optional[PowerMonitor], callback: Optional[Callable[[Measurement], Any]], keep: int):
        functools.update_wrapper(self, fn)
        self.fn, self.name = fn, name or getattr(fn, "__qualname__", None) or repr(fn)
        self.sensor, self.rate_hz, self.monitor, self.callback, self.keep = sensor, rate_hz, monitor, callback, keep
        self.measurements: List[Measurement] = []

    @property
    def last(self) -> Optional[Measurement]:
        return self.measurements[-1] if self.measurements else None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        mon = self.monitor
        own = mon is None
        if own:
            mon = PowerMonitor(self.sensor, rate_hz=self.rate_hz).start()
        assert mon is not None
        name = self.name
        k = 1
        while name in mon.open_windows():  # a recursive or concurrent call: a window of its own
            k += 1
            name = f"{self.name}#{k}"
        w = None
        try:
            with mon.window(name) as w:
                return self.fn(*args, **kwargs)
        finally:
            if own:
                mon.stop()
            m = w.measurement if w is not None else None
            if m is not None:
                self.measurements.append(m)
                if self.keep and len(self.measurements) > self.keep:
                    del self.measurements[0]
                log.info("%s", m)
                if self.callback is not None:
                    self.callback(m)

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        # As a method: bind like a function would.
        return self if obj is None else functools.partial(self.__call__, obj)


def measure(fn: Optional[Callable[..., Any]] = None, *, name: Optional[str] = None,
            sensor: Union[str, Any] = "auto", rate_hz: float = 1000.0, monitor: Optional[PowerMonitor] = None,
            callback: Optional[Callable[[Measurement], Any]] = None, keep: int = 1000) -> Any:
    """Measures the energy of every call of the decorated function (see the module docstring).

    Parameters
    ----------
    fn : callable
        The function (``@measure`` without parentheses passes it).
    name : str, optional
        Window name; default the function's qualified name.
    sensor, rate_hz
        For the monitor started per call (ignored with ``monitor``). The sensor is checked now.
    monitor : PowerMonitor, optional
        A running monitor to mark the windows on (it is not started or stopped here).
    callback : callable, optional
        Called with each call's Measurement.
    keep : int
        Measurements kept in ``.measurements`` (the oldest are dropped); 0 keeps all.
    """
    if monitor is not None and not isinstance(monitor, PowerMonitor):
        raise TypeError(f"monitor must be an edgepower.PowerMonitor, got {type(monitor).__name__}")
    if callback is not None and not callable(callback):
        raise TypeError("callback must be a callable taking a Measurement, or None")
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
        raise ValueError(f"keep must be an int >= 0 (0 keeps every measurement), got {keep!r}")
    if monitor is None:
        from .sensors import create_sensor

        create_sensor(sensor)  # an unknown or unavailable sensor fails at decoration, with the reason

    def wrap(f: Callable[..., Any]) -> Measured:
        if not callable(f):
            raise TypeError(f"@edgepower.measure decorates a callable, got {type(f).__name__}")
        return Measured(f, name, sensor, rate_hz, monitor, callback, keep)

    return wrap(fn) if fn is not None else wrap


__all__ = ["Measured", "measure"]
