"""Energy regression checks: baseline entries, their JSON file, and :func:`assert_energy`.

A *baseline entry* is what a check compares against, as a JSON-ready dict: the sensor kind,
device and dtype it was measured with (a comparison across different ones is refused, not
failed), whether it is an estimate, and either

- a single window (a :class:`~edgepower.Measurement`): ``energy_j``, ``avg_power_w``,
  ``duration_s``; or
- a layer profile (a :class:`~edgepower.report.Report`): per row label the energy per inference
  (net above idle when the report has an idle baseline, else gross) and latency with their 95 %
  CI half-widths, and the same for the whole model.

:func:`assert_energy` fails only when a difference is beyond the tolerance AND beyond the combined
95 % CIs (``sqrt(ci_a**2 + ci_b**2)``): a difference the measurement cannot resolve is not a
regression. A single window has no CI (one sample of the energy), so only the tolerance applies
to it. The pytest plugin (:mod:`edgepower.pytest_plugin`, docs/pytest.md) keeps one entry per test
in a baseline file (:func:`load_baselines`, :func:`save_baselines`).
"""
from __future__ import annotations

import json
import math
import os
import platform
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ..export.common import finite, jsonable
from ..export.compare import figures, identity

BASELINE_FORMAT = "edgepower-baseline/1"
_IDENTITY = ("sensor", "device", "dtype")


class BaselineMismatch(ValueError):
    """The figures were measured with a different sensor, device or dtype than the baseline (or
    are estimates): comparing them would say nothing about the code."""


def host_device() -> str:
    """The device a measurement without a model ran on: ``cpu (<machine>)`` (as for a CPU report)."""
    return f"cpu ({platform.machine()})" if platform.machine() else "cpu"


def _report_entry(report) -> Dict[str, Any]:
    net = any(finite(r.get("net_energy_per_inference_mj")) for r in report.rows)
    figs = figures(report, net)
    layers = {lab: {"energy_mj": f["energy"], "energy_ci95_mj": f["energy_ci95"], "latency_ms": f["latency"],
                    "latency_ci95_ms": f["latency_ci95"], "avg_power_w": f["power"], "kind": f["kind"],
                    "module": f["module"]}
              for lab, f in figs.items()}
    entry = dict(identity(report.meta), kind="report", energy_basis="net" if net else "gross",
                 model=report.meta.get("model", ""), inputs=report.meta.get("inputs", ""), layers=layers)
    return entry


def _measurement_entry(m, device: Optional[str], dtype: Optional[str]) -> Dict[str, Any]:
    return {"sensor": m.sensor, "device": device or host_device(), "dtype": dtype or "", "estimated": bool(m.estimated),
            "kind": "measurement", "energy_j": m.energy_j, "avg_power_w": m.avg_power_w, "duration_s": m.duration_s,
            "num_samples": m.num_samples, "method": m.method}


def entry_from(obj: Any, device: Optional[str] = None, dtype: Optional[str] = None) -> Dict[str, Any]:
    """The baseline entry of a Report, a Measurement, an entry dict (returned as is) or a JSON
    file holding a report (``report.to_json``) or an entry.

    ``device`` and ``dtype`` describe a Measurement (which knows its sensor but not what the code
    ran on); default the host CPU and unknown. A Report records its own.
    """
    from ..measurement import Measurement

    if isinstance(obj, dict):
        if obj.get("format") == "edgepower-profile/1":
            from ..report import Report

            return _report_entry(Report.from_dict(obj))
        if obj.get("kind") not in ("report", "measurement"):
            raise ValueError("a baseline entry is a dict with kind 'report' or 'measurement' (from "
                             f"edgepower.testing.entry_from); got keys {sorted(obj)[:8]}")
        return obj
    if isinstance(obj, Measurement):
        if not obj.ok:
            raise ValueError(f"the measurement {obj.name!r} has no energy ({obj.reason}); nothing to compare")
        return _measurement_entry(obj, device, dtype)
    if isinstance(obj, (str, os.PathLike)):
        path = os.fspath(obj)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"baseline {path!r} does not exist; write one with report.to_json(path) or "
                                    "pytest --edgepower-baseline PATH --edgepower-update-baseline")
        with open(path, encoding="utf-8") as f:
            return entry_from(json.load(f))
    if hasattr(obj, "rows") and hasattr(obj, "meta"):
        return _report_entry(obj)
    raise TypeError(f"cannot compare a {type(obj).__name__}: pass a Report, a Measurement, a baseline entry dict "
                    "or the path of a report JSON")


def mismatch(actual: Dict[str, Any], baseline: Dict[str, Any]) -> str:
    """Why two entries must not be compared ('' when they may): a different sensor, device or
    dtype (an empty field is unknown and matches anything), or a report against a single window."""
    if actual.get("kind") != baseline.get("kind"):
        return (f"the baseline is a {baseline.get('kind')} and this is a {actual.get('kind')}: record the baseline "
                "the same way (update it)")
    diffs = [f"{k} {baseline.get(k)!r} (baseline) vs {actual.get(k)!r} (now)" for k in _IDENTITY
             if actual.get(k) and baseline.get(k) and actual.get(k) != baseline.get(k)]
    if diffs:
        return ("baseline measured with a different " + "; ".join(diffs) +
                ": energy is only comparable on the same sensor, device and dtype; record a baseline here "
                "(--edgepower-update-baseline) or run where the baseline was made")
    return ""


@dataclass
class Check:
    """Outcome of comparing an entry with its baseline: one line per figure (:attr:`lines`),
    whether it failed, and a readable table (:meth:`table`)."""

    unit: str
    rel: float
    lines: List[Dict[str, Any]] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    new: List[str] = field(default_factory=list)

    @property
    def failures(self) -> List[str]:
        """Labels beyond the tolerance and the CIs (and rows missing from the new figures)."""
        return [ln["label"] for ln in self.lines if ln["verdict"] == "REGRESSION"] + self.missing

    @property
    def failed(self) -> bool:
        return bool(self.failures)

    def table(self) -> str:
        """Per label: baseline and now with 95 % CIs, the change in %, the tolerance and the
        combined CI in %, and the verdict."""
        w = max([len(ln["label"]) for ln in self.lines] + [5])
        u = self.unit
        out = [f"  {'layer':<{w}}  {'baseline ' + u:>20}  {'now ' + u:>20}  {'change':>8}  {'tol':>6}  "
               f"{'CI':>7}  verdict"]
        for ln in self.lines:
            def fig(x, c):
                return f"{x:.4f}" + (f" +- {c:.4f}" if finite(c) else "") if finite(x) else "n/a"
            ci = f"{ln['ci_pct']:.1f}%" if finite(ln["ci_pct"]) else "none"
            change = f"{ln['change_pct']:+.1f}%" if finite(ln["change_pct"]) else "n/a"
            out.append(f"  {ln['label']:<{w}}  {fig(ln['baseline'], ln['baseline_ci']):>20}  "
                       f"{fig(ln['actual'], ln['actual_ci']):>20}  {change:>8}  "
                       f"{self.rel * 100:5.1f}%  {ci:>7}  {ln['verdict']}")
        if self.missing:
            out.append(f"  missing now (in the baseline): {', '.join(self.missing)}")
        if self.new:
            out.append(f"  new (not in the baseline, not checked): {', '.join(self.new)}")
        return "\n".join(out)


def _line(label: str, b: Any, bci: Any, a: Any, aci: Any, rel: float, only_increase: bool) -> Dict[str, Any]:
    d = a - b if finite(a) and finite(b) else math.nan
    change = d / abs(b) * 100 if finite(d) and b else math.nan
    comb = math.hypot(bci, aci) if finite(bci) and finite(aci) else math.nan
    beyond_tol = finite(d) and abs(d) > rel * abs(b)
    beyond_ci = finite(d) and (not finite(comb) or abs(d) > comb)
    worse = finite(d) and (d > 0 or not only_increase)
    if not finite(d):
        verdict = "n/a"
    elif beyond_tol and beyond_ci and worse:
        verdict = "REGRESSION"
    elif beyond_tol and beyond_ci:
        verdict = "improved"
    elif beyond_tol:
        verdict = "within CI"
    else:
        verdict = "ok"
    return {"label": label, "baseline": b, "baseline_ci": bci, "actual": a, "actual_ci": aci, "delta": d,
            "change_pct": change, "ci_pct": comb / abs(b) * 100 if finite(comb) and b else math.nan,
            "beyond_tolerance": bool(beyond_tol), "beyond_ci": bool(beyond_ci), "verdict": verdict}


def compare_entries(actual: Dict[str, Any], baseline: Dict[str, Any], rel: float = 0.1,
                    only_increase: bool = False) -> Check:
    """Compares two entries of the same kind (see :func:`mismatch` first). A report: every row
    label both have (energy per inference, mJ); a row the baseline has and ``actual`` lacks
    fails. A measurement: the window's energy (J)."""
    if not (finite(rel) and rel >= 0):
        raise ValueError(f"rel must be a tolerance >= 0 (0.1 for 10 %), got {rel!r}")
    if actual.get("kind") != baseline.get("kind"):
        raise ValueError(mismatch(actual, baseline))
    if actual["kind"] == "measurement":
        check = Check("J", rel)
        check.lines.append(_line("(window)", baseline["energy_j"], math.nan, actual["energy_j"], math.nan, rel,
                                 only_increase))
        return check
    check = Check(f"mJ ({actual.get('energy_basis', 'net')})", rel)
    la, lb = actual["layers"], baseline["layers"]
    for lab, b in lb.items():
        if lab not in la:
            check.missing.append(lab)
            continue
        a = la[lab]
        check.lines.append(_line(lab, b["energy_mj"], b.get("energy_ci95_mj"), a["energy_mj"],
                                 a.get("energy_ci95_mj"), rel, only_increase))
    check.new = [lab for lab in la if lab not in lb]
    return check


def _refuse(reason: str, on_mismatch: str) -> None:
    if on_mismatch == "skip" and os.environ.get("PYTEST_CURRENT_TEST"):
        import pytest

        pytest.skip(f"edgepower: {reason}")
    raise BaselineMismatch(reason)


def assert_energy(actual: Any, baseline: Any, rel: float = 0.1, *, only_increase: bool = False,
                  allow_estimate: bool = False, device: Optional[str] = None, dtype: Optional[str] = None,
                  on_mismatch: str = "skip") -> Check:
    """Asserts that energy did not change beyond ``rel`` AND beyond the combined 95 % CIs.

    Parameters
    ----------
    actual : Report, Measurement or baseline entry
        The new figures.
    baseline : Report, Measurement, baseline entry, or path of a report JSON or entry JSON
        The reference.
    rel : float
        Relative tolerance (0.1: 10 %).
    only_increase : bool
        Fail only when energy went up (a drop beyond tolerance and CI is reported as ``improved``).
        Default False: any change beyond both fails.
    allow_estimate : bool
        Compare estimates too (figures from a model of the device, not a sensor: by default the
        check is refused, since an estimate cannot see an energy regression).
    device, dtype : str, optional
        What ``actual`` ran on, for a Measurement (a Report records its own).
    on_mismatch : {"skip", "raise"}
        A refused comparison (different sensor, device or dtype; estimates) skips the running
        pytest test with the reason (``skip``, outside pytest it raises), or raises
        :class:`BaselineMismatch` (``raise``).

    Returns
    -------
    Check
        The comparison (``check.table()``), when it passes.

    Raises
    ------
    AssertionError
        With the per-layer table, when a figure changed beyond the tolerance and the CIs or a
        baseline row is missing.
    """
    if on_mismatch not in ("skip", "raise"):
        raise ValueError(f"on_mismatch must be 'skip' or 'raise', got {on_mismatch!r}")
    a, b = entry_from(actual, device, dtype), entry_from(baseline)
    if (a.get("estimated") or b.get("estimated")) and not allow_estimate:
        _refuse(f"the figures are estimates (sensor {a.get('sensor')}), not measurements: an estimate cannot show an "
                "energy regression; measure with a power sensor, or pass allow_estimate=True "
                "(pytest: --edgepower-allow-estimate)", on_mismatch)
    reason = mismatch(a, b)
    if reason:
        _refuse(reason, on_mismatch)
    check = compare_entries(a, b, rel, only_increase)
    if check.failed:
        raise AssertionError(f"energy changed beyond {rel * 100:g}% and beyond the combined 95% CIs "
                             f"({', '.join(check.failures)}); sensor {a.get('sensor')}, device {a.get('device')}"
                             f"{', dtype ' + a['dtype'] if a.get('dtype') else ''}:\n{check.table()}")
    return check


# ---- baseline files -------------------------------------------------------------------------------
def load_baselines(path: str) -> Dict[str, Dict[str, Any]]:
    """Test id -> entry from a baseline file ({} when the file does not exist yet)."""
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        try:
            d = json.load(f)
        except json.JSONDecodeError as exc:
            raise ValueError(f"baseline file {path!r} is not valid JSON ({exc}); fix it or delete it and run with "
                             "--edgepower-update-baseline") from None
    if not isinstance(d, dict) or d.get("format") != BASELINE_FORMAT:
        got = d.get("format") if isinstance(d, dict) else type(d).__name__
        raise ValueError(f"{path!r} is not an edgepower baseline file (format {got!r}, expected {BASELINE_FORMAT!r})")
    return dict(d.get("tests") or {})


def save_baselines(path: str, entries: Dict[str, Dict[str, Any]]) -> str:
    """Writes test id -> entry to ``path`` (sorted, stable for a diff in review); returns it."""
    d = {"format": BASELINE_FORMAT, "written_unix_s": round(time.time(), 3),
         "tests": {k: entries[k] for k in sorted(entries)}}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(jsonable(d), f, indent=1, sort_keys=False, allow_nan=False)
        f.write("\n")
    return path


def parse_tolerance(text: Any) -> float:
    """``"10%"`` or ``"0.1"`` -> 0.1; ValueError saying the accepted forms otherwise."""
    s = str(text).strip()
    try:
        value = float(s[:-1]) / 100 if s.endswith("%") else float(s)
    except ValueError:
        raise ValueError(f"tolerance must be a percentage like 10% or a fraction like 0.1, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"tolerance must be >= 0, got {text!r}")
    return value


__all__ = ["BASELINE_FORMAT", "BaselineMismatch", "Check", "assert_energy", "compare_entries", "entry_from",
           "host_device", "load_baselines", "mismatch", "parse_tolerance", "save_baselines"]
