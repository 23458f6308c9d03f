"""pytest plugin: energy regression checks (docs/pytest.md).

Installed with edgepower as the ``pytest11`` entry point ``edgepower`` (``-p edgepower`` loads it
where plugin autoloading is off). It is inert unless used: importing it imports neither torch
nor edgepower's native core, and nothing is measured or printed unless a test requests the
``energy_monitor`` fixture or carries the ``energy_budget`` marker.

- fixture ``energy_monitor``: an :class:`edgepower.testing.fixture.EnergyMonitor` (a running
  ``PowerMonitor``) whose window spans the test function's body; its measurement goes into the
  test report (``user_properties``, a report section) and a table in the terminal summary.
- marker ``@pytest.mark.energy_budget(joules=..., avg_power_w=..., per_layer_mj={...})``.
- baselines: ``--edgepower-baseline PATH`` (a committed JSON, one entry per test),
  ``--edgepower-update-baseline``, ``--edgepower-tolerance 10%``; a check fails only when a
  figure changed beyond the tolerance and beyond the combined 95 % CIs
  (:func:`edgepower.testing.assert_energy`); a baseline from another sensor, device or dtype is
  not compared (skip with the reason).
- sensor: ``--edgepower-sensor SPEC``, else ``EDGEPOWER_SENSOR``, else ``auto``; estimates (no
  power sensor) skip with the reason unless ``--edgepower-allow-estimate``.
"""
from __future__ import annotations

import math
import os
from typing import Any, Dict, List, Optional

import pytest

_STATE = pytest.StashKey["_Session"]()
_MONITOR = pytest.StashKey[Any]()
MARKER = "energy_budget"


def pytest_addoption(parser) -> None:
    g = parser.getgroup("edgepower", "energy regression checks (edgepower)")
    g.addoption("--edgepower-sensor", default=None, metavar="SPEC",
                help="sensor for energy_monitor (default: $EDGEPOWER_SENSOR, else auto; see `edgepower sensors`)")
    g.addoption("--edgepower-rate", type=float, default=1000.0, metavar="HZ",
                help="sampling rate of energy_monitor in Hz (default 1000)")
    g.addoption("--edgepower-baseline", default=None, metavar="PATH",
                help="baseline JSON (one entry per test) to compare energy with")
    g.addoption("--edgepower-update-baseline", action="store_true",
                help="write the measured figures into --edgepower-baseline instead of comparing")
    g.addoption("--edgepower-tolerance", default="10%", metavar="TOL",
                help="relative tolerance of baseline checks, e.g. 10%% or 0.1 (default 10%%)")
    g.addoption("--edgepower-allow-estimate", action="store_true",
                help="run energy checks on estimates too (by default they skip when no power sensor measures)")


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(joules=None, avg_power_w=None, per_layer_mj=None): fail when the "
                                       "test body's energy or average power, or a recorded profile's energy per "
                                       "inference of a layer (mJ), exceeds the budget (edgepower)")
    config.stash[_STATE] = _Session(config)


class _Session:
    """The plugin's settings and results for one pytest session."""

    def __init__(self, config):
        opt = config.getoption
        self.spec: str = opt("--edgepower-sensor") or os.environ.get("EDGEPOWER_SENSOR") or "auto"
        self.rate_hz: float = opt("--edgepower-rate")
        self.baseline_path: Optional[str] = opt("--edgepower-baseline")
        self.update: bool = opt("--edgepower-update-baseline")
        self.allow_estimate: bool = opt("--edgepower-allow-estimate")
        self.tolerance = 0.1
        if opt("--edgepower-tolerance") != "10%":  # only then import edgepower: the plugin stays inert
            from edgepower.testing.regression import parse_tolerance

            try:
                self.tolerance = parse_tolerance(opt("--edgepower-tolerance"))
            except ValueError as exc:
                raise pytest.UsageError(f"--edgepower-tolerance: {exc}") from None
        if self.update and not self.baseline_path:
            raise pytest.UsageError("--edgepower-update-baseline needs --edgepower-baseline PATH (the file to write)")
        self._baselines: Optional[Dict[str, Any]] = None
        self.updated: Dict[str, Any] = {}
        self.results: Dict[str, Dict[str, Any]] = {}
        self._sensor: Any = None
        self._sensor_error = ""
        self.written = ""

    def baselines(self) -> Dict[str, Any]:
        if self._baselines is None:
            from edgepower.testing.regression import load_baselines

            self._baselines = load_baselines(self.baseline_path) if self.baseline_path else {}
        return self._baselines

    def monitor(self):
        """A started EnergyMonitor on the session's sensor (built once); skips the test when the
        sensor is unavailable or gives estimates (unless allowed)."""
        from edgepower.sensors import SensorError, create_sensor
        from edgepower.testing.fixture import EnergyMonitor

        if self._sensor is None and not self._sensor_error:
            try:
                self._sensor = create_sensor(self.spec)
            except (SensorError, ValueError) as exc:
                self._sensor_error = str(exc)
        if self._sensor is None:
            pytest.skip(f"edgepower: sensor {self.spec!r} is not available here: {self._sensor_error}")
        info = self._sensor.info
        if info.estimated and not self.allow_estimate:
            pytest.skip(f"edgepower: no power sensor measures here (sensor {info.kind} gives ESTIMATES from a model, "
                        "which cannot show an energy regression); pass --edgepower-allow-estimate to check them "
                        "anyway, or --edgepower-sensor SPEC")
        return EnergyMonitor(self._sensor, self.rate_hz).start()

    # ---- after the test body ----------------------------------------------------------------------
    def check(self, item, mon) -> None:
        """Records the figures, then checks the budgets and the baseline (fails the test with the
        reasons, or skips it when the baseline is not comparable)."""
        from edgepower.testing.regression import assert_energy

        m = mon.measurement
        res: Dict[str, Any] = {"energy_j": m.energy_j, "avg_power_w": m.avg_power_w, "duration_s": m.duration_s,
                               "num_samples": m.num_samples, "sensor": m.sensor, "estimated": m.estimated,
                               "reason": m.reason, "baseline": "", "report": mon.report}
        self.results[item.nodeid] = res
        props = {k: v for k, v in res.items() if k != "report"}
        if mon.report is not None:
            props["layers"] = {r["layer"]: r["net_energy_per_inference_mj"] for r in mon.report.rows}
        item.user_properties.append(("edgepower", props))
        item.add_report_section("call", "edgepower", f"{m}")
        errors = _budget_errors(item, mon)
        if not m.ok and mon.report is None:
            if errors or (self.baseline_path and not self.update):
                errors.append(f"the test body's energy is unavailable: {m.reason}")
            res["baseline"] = "n/a"
        elif self.update:
            self.updated[item.nodeid] = mon.entry()
            res["baseline"] = "recorded"
        elif self.baseline_path:
            base = self.baselines().get(item.nodeid)
            if base is None:
                res["baseline"] = "no entry"
            else:
                try:
                    check = assert_energy(mon.entry(), base, self.tolerance, allow_estimate=self.allow_estimate,
                                          on_mismatch="raise")
                    ln = check.lines[-1] if check.lines else None
                    res["baseline"] = f"{ln['change_pct']:+.1f}% ok" if ln and math.isfinite(ln["change_pct"]) else "ok"
                    res["check"] = check
                except AssertionError as exc:
                    res["baseline"] = "REGRESSION"
                    errors.append(str(exc))
                except ValueError as exc:  # BaselineMismatch: refused, not failed
                    res["baseline"] = "skipped"
                    if not errors:
                        pytest.skip(f"edgepower: {exc}")
        if errors:
            res["baseline"] = res["baseline"] or "FAIL"
            # The message says everything; the plugin's own traceback would only hide it.
            pytest.fail("edgepower energy check failed:\n" + "\n".join(errors), pytrace=False)


def _budget_errors(item, mon) -> List[str]:
    marker = item.get_closest_marker(MARKER)
    if marker is None:
        return []
    from edgepower.export.common import finite

    if marker.args:
        raise pytest.UsageError(f"{item.nodeid}: {MARKER} takes keywords only: joules=, avg_power_w=, per_layer_mj=")
    kw = dict(marker.kwargs)
    unknown = set(kw) - {"joules", "avg_power_w", "per_layer_mj"}
    if unknown:
        raise pytest.UsageError(f"{item.nodeid}: unknown {MARKER} keyword(s) {sorted(unknown)}; use joules=, "
                                "avg_power_w=, per_layer_mj=")
    m, errors = mon.measurement, []
    for key, value, unit in (("joules", m.energy_j, "J"), ("avg_power_w", m.avg_power_w, "W")):
        if kw.get(key) is None:
            continue
        if not finite(value):
            errors.append(f"budget {key}={kw[key]} {unit}: the figure is unavailable ({m.reason})")
        elif value > kw[key]:
            errors.append(f"budget {key}={kw[key]:g} {unit} exceeded: the test body measured {value:.4g} {unit} "
                          f"({m.duration_s:.3f} s, sensor {m.sensor})")
    per_layer = kw.get("per_layer_mj")
    if per_layer:
        if mon.report is None:
            errors.append("budget per_layer_mj needs a layer profile: call energy_monitor.profile(model, x) or "
                          "energy_monitor.record(report) in the test")
        else:
            errors += _layer_budget_errors(mon.report, per_layer)
    return errors


def _layer_budget_errors(report, budgets: Dict[str, float]) -> List[str]:
    from edgepower.export.common import finite

    rows = {r["layer"]: r for r in report.rows}
    errors = []
    net = any(finite(r["net_energy_per_inference_mj"]) for r in rows.values())
    key = "net_energy_per_inference_mj" if net else "energy_per_inference_mj"
    for label, budget in budgets.items():
        if label not in rows:
            errors.append(f"budget per_layer_mj: no layer {label!r} in the profile; layers: {', '.join(rows)}")
            continue
        r = rows[label]
        e, ci = r[key], r["ci95_mj"]
        # Over budget only when the whole 95 % CI is above it (the mean alone may be noise).
        low = e - ci if finite(ci) else e
        if not finite(e):
            errors.append(f"budget per_layer_mj[{label!r}]: energy unavailable ({r['status']}: {r['note']})")
        elif low > budget:
            errors.append(f"budget per_layer_mj[{label!r}]={budget:g} mJ exceeded: {e:.4f} +- "
                          f"{ci if finite(ci) else float('nan'):.4f} mJ {'net' if net else 'gross'} per inference")
    return errors


def pytest_collection_modifyitems(items) -> None:
    # A test with an energy budget is measured even if it does not name the fixture.
    for item in items:
        if item.get_closest_marker(MARKER) is not None and "energy_monitor" not in getattr(item, "fixturenames", [None]):
            item.fixturenames.append("energy_monitor")


@pytest.fixture
def energy_monitor(request):
    """A running ``edgepower`` PowerMonitor whose window spans this test's body; the measurement
    is checked against ``energy_budget`` and ``--edgepower-baseline`` (docs/pytest.md)."""
    mon = request.config.stash[_STATE].monitor()
    request.node.stash[_MONITOR] = mon
    try:
        yield mon
    finally:
        request.node.stash[_MONITOR] = None
        try:
            mon.stop()
        except Exception as exc:  # the sampler failed: say so, keep the test's own outcome
            request.node.add_report_section("teardown", "edgepower", f"the sampler stopped with an error: {exc}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    mon = item.stash.get(_MONITOR, None)
    if mon is None:
        return (yield)
    mon.begin_test()
    try:
        result = yield
    finally:
        mon.end_test()
    item.config.stash[_STATE].check(item, mon)
    return result


def pytest_sessionfinish(session) -> None:
    state = session.config.stash.get(_STATE, None)
    if state is None or not state.update or not state.updated:
        return
    from edgepower.testing.regression import load_baselines, save_baselines

    entries = load_baselines(state.baseline_path)
    entries.update(state.updated)
    state.written = save_baselines(state.baseline_path, entries)


def pytest_terminal_summary(terminalreporter, config) -> None:
    state = config.stash.get(_STATE, None)
    if state is None or not state.results:
        return
    from edgepower.export.common import num

    tr = terminalreporter
    tr.write_sep("=", "edgepower energy")
    w = max(len(k) for k in state.results)
    tr.write_line(f"{'test':<{w}}  {'time s':>8}  {'energy J':>10}  {'avg W':>8}  {'samples':>7}  sensor  baseline")
    for nodeid, r in state.results.items():
        est = " (ESTIMATE)" if r["estimated"] else ""
        tr.write_line(f"{nodeid:<{w}}  {num(r['duration_s'], '.3f', 8)}  {num(r['energy_j'], '.4f', 10)}  "
                      f"{num(r['avg_power_w'], '.3f', 8)}  {r['num_samples']:>7}  {r['sensor']}{est}  "
                      f"{r['baseline'] or '-'}")
    for nodeid, r in state.results.items():
        if r["report"] is None:
            continue
        tr.write_line("")
        tr.write_line(f"{nodeid}: layers (energy per inference, 95% CI)")
        check = r.get("check")
        change = {ln["label"]: ln for ln in check.lines} if check is not None else {}
        rows = r["report"].rows
        lw = max(len(x["layer"]) for x in rows)
        for x in rows:
            ln = change.get(x["layer"])
            vs = f"  {ln['change_pct']:+.1f}% vs baseline ({ln['verdict']})" if ln and math.isfinite(ln["change_pct"]) \
                else ""
            tr.write_line(f"  {x['layer']:<{lw}}  net {num(x['net_energy_per_inference_mj'], '.4f', 9)} mJ +- "
                          f"{num(x['ci95_mj'], '.4f', 7)}  gross {num(x['energy_per_inference_mj'], '.4f', 9)} mJ  "
                          f"{num(x['latency_ms'], '.4f', 9)} ms{vs}")
    if state.written:
        tr.write_line(f"edgepower: wrote {len(state.updated)} baseline entries to {state.written}")
    elif state.baseline_path and not state.update:
        missing = [k for k, r in state.results.items() if r["baseline"] == "no entry"]
        if missing:
            tr.write_line(f"edgepower: {len(missing)} test(s) have no entry in {state.baseline_path}; record them with "
                          "--edgepower-update-baseline")
