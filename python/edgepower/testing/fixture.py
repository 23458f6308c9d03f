"""What the pytest fixture ``energy_monitor`` yields: a running :class:`~edgepower.PowerMonitor`
whose window ``(test)`` spans the test function's body, plus the figures a test records.

The plugin (:mod:`edgepower.pytest_plugin`) opens and closes the window around the body (fixtures'
set-up and tear-down are outside it), then checks budgets and baselines on :meth:`EnergyMonitor.entry`.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from ..monitor import PowerMonitor
from .regression import entry_from, host_device

#: Name of the window around the test body.
TEST_WINDOW = "(test)"


class EnergyMonitor(PowerMonitor):
    """A :class:`~edgepower.PowerMonitor` for one test (``energy_monitor`` fixture).

    Attributes
    ----------
    measurement : Measurement or None
        Energy of the test body (set when the body ends).
    report : Report or None
        A layer profile the test recorded (:meth:`profile`, :meth:`record`): budgets per layer
        and baselines then use its rows.
    device, dtype : str
        What the measured code ran on, recorded in a baseline with the sensor (a comparison
        across different ones is refused). Default the host CPU and '' (unknown, matches any);
        a recorded report brings its own.
    """

    def __init__(self, sensor: Any, rate_hz: float = 1000.0, **kwargs: Any):
        super().__init__(sensor, rate_hz, **kwargs)
        self.measurement = None
        self.report = None
        self.device: str = host_device()
        self.dtype: str = ""

    def begin_test(self) -> None:
        """Opens the window around the test body."""
        self.begin_window(TEST_WINDOW)

    def end_test(self):
        """Closes the window around the test body; returns its Measurement."""
        if TEST_WINDOW in self.open_windows():
            self.measurement = self.end_window(TEST_WINDOW)
        return self.measurement

    def profile(self, model: Any, *inputs: Any, model_kwargs: Optional[Dict[str, Any]] = None, **options: Any):
        """Profiles ``model`` layer by layer on this monitor's sensor
        (:func:`edgepower.profile_layers` with ``monitor=self``) and records the report. Returns
        the :class:`~edgepower.report.Report`."""
        from ..profile import LayerProfiler

        if "sensor" in options or "monitor" in options:
            raise ValueError("energy_monitor.profile() uses the test's sensor (--edgepower-sensor); drop sensor=/monitor=")
        report = LayerProfiler(model, monitor=self, **options).profile(*inputs, **(model_kwargs or {}))
        return self.record(report)

    def record(self, report: Any):
        """Records a report made elsewhere (its sensor should be this test's); returns it."""
        if not (hasattr(report, "rows") and hasattr(report, "meta")):
            raise TypeError(f"record() takes an edgepower Report, got {type(report).__name__}")
        self.report = report
        return report

    def entry(self) -> Dict[str, Any]:
        """The baseline entry of this test: the recorded report's, else the body's measurement."""
        if self.report is not None:
            return entry_from(self.report)
        if self.measurement is None:
            raise RuntimeError("the test body has not been measured yet")
        return entry_from(self.measurement, device=self.device, dtype=self.dtype)

    def __repr__(self) -> str:
        return "<EnergyMonitor " + super().__repr__()[1:]


__all__ = ["EnergyMonitor", "TEST_WINDOW"]
