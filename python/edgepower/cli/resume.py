"""``edgepower profile``: its spool, Ctrl-C and ``--resume`` (docs/reliability.md).

- The spool (``--spool DIR``, by default ``OUT/spool``; ``--no-spool``): the profile's samples,
  marks and finished windows are appended to disk as they happen (:mod:`edgepower.spool`), after
  a ``"profile"`` record with the settings and a fingerprint of the model.
- Ctrl-C while measuring: the report of the finished windows is written as ``OUT/partial-*``
  (``meta["partial"]`` in ``partial-report.json``), and the command exits 130.
- ``--resume DIR``: finishes an interrupted profile from its newest spool in ``DIR`` (or the
  spool folder ``DIR``): the same settings (an option given that differs is refused), the same
  model (a different one is refused), the finished windows reused with their energies, the rest
  measured, in a new spool ``OUT/spool-N`` that also lists the reused windows.
"""
from __future__ import annotations

import dataclasses
import glob
import math
import os
import re
import sys
from typing import Any, Dict, List, Optional, Tuple

from ..spool import EVENTS, check_path, read_spool

# The options that decide what is measured and how: recorded in the spool, checked on --resume.
SETTINGS = ("model", "batch_size", "repeats", "sensor", "estimator", "rate", "rounds", "min_window", "warmup",
            "idle", "idle_power", "image_size", "seq_len", "layers", "depth", "device", "dtype", "seed", "mode",
            "sync_layers", "max_round", "cache_context", "ci_target", "max_rounds", "allocator")
_PARSER: List[Any] = []


def add_arguments(p) -> None:
    """The spool and resume options of ``edgepower profile``."""
    _PARSER[:] = [p]
    p.add_argument("--spool", metavar="DIR", default=None,
                   help="append the samples, marks and finished windows to DIR as they happen, fsynced every "
                        "--spool-sync s (default: OUT/spool); what --resume reads")
    p.add_argument("--no-spool", action="store_true", help="no spool (a Ctrl-C still writes the partial report)")
    p.add_argument("--spool-sync", type=float, default=1.0, metavar="S",
                   help="seconds between the spool's fsyncs (default 1)")
    p.add_argument("--resume", metavar="DIR", default=None,
                   help="finish an interrupted profile: DIR is its output folder (or spool); its finished windows "
                        "are reused and the rest measured with the settings recorded there")


def _option(key: str) -> str:
    return "MODEL" if key == "model" else "--" + key.replace("_", "-")


def _given(args: Any, key: str, parser: Any) -> bool:
    """Whether the option ``key`` was typed (argparse also takes unambiguous prefixes)."""
    if key == "model":
        return args.model is not None
    argv = getattr(args, "argv", None)
    if argv is None:  # called without edgepower.cli.main: what differs from the default was given
        return getattr(args, key) != parser.get_default(key)
    opt = _option(key)
    return any(t.startswith("--") and len(t.split("=")[0]) > 2 and opt.startswith(t.split("=")[0]) for t in argv)


def _latest_spool(path: str) -> Tuple[Optional[str], str]:
    """(newest spool folder in the output folder ``path`` or ``path`` itself if a spool, out dir)."""
    if os.path.isfile(os.path.join(path, EVENTS)):
        return path, os.path.dirname(os.path.abspath(path))
    found = []
    for d in glob.glob(os.path.join(glob.escape(path), "spool*")):
        m = re.fullmatch(r"spool(?:-(\d+))?", os.path.basename(d))
        if m and os.path.isfile(os.path.join(d, EVENTS)):
            found.append((int(m.group(1) or 1), d))
    return (max(found)[1] if found else None), path


@dataclasses.dataclass
class Session:
    """The spool and resume state of one ``edgepower profile`` run."""

    args: Any
    spool_dir: Optional[str] = None
    resume_from: Optional[str] = None
    recorded: Dict[str, Any] = dataclasses.field(default_factory=dict)  # the spool's "profile" record
    resumed: Dict[Tuple[str, int], List[Any]] = dataclasses.field(default_factory=dict)
    monitor: Any = None
    replace: bool = False

    # ---- before any work ------------------------------------------------------------------------
    def prepare(self) -> None:
        args = self.args
        if args.spool_sync is not None and not (math.isfinite(args.spool_sync) and args.spool_sync > 0):
            raise ValueError(f"--spool-sync must be a positive number of seconds, got {args.spool_sync}")
        if args.resume is not None:
            self._load_resume()
        elif args.model is None:
            raise ValueError("MODEL is missing: give vgg11, distilbert or module.path:factory (or --resume DIR to "
                             "finish an interrupted profile)")
        if args.no_spool:
            return
        if args.spool is not None:
            self.spool_dir = check_path(args.spool)  # before any work: a folder holding a spool is refused
            return
        latest, _ = _latest_spool(args.out)
        if args.resume is None and latest is not None:
            if not read_spool(latest, samples=False).of_type("report"):
                raise ValueError(f"{latest} holds an interrupted profile: finish it with `edgepower profile --resume "
                                 f"{args.out}`, or remove {os.path.join(args.out, 'spool*')} (or pass another -o, or "
                                 "--no-spool) to start over")
            self.replace = True  # a finished profile's spools go when the new one starts (make_monitor)
        n = 1 if latest is None or args.resume is None else max(1, _session_number(latest)) + 1
        self.spool_dir = os.path.join(args.out, "spool" if n == 1 else f"spool-{n}")

    def _load_resume(self) -> None:
        args = self.args
        path, out = _latest_spool(args.resume)
        if path is None:
            raise FileNotFoundError(f"--resume {args.resume}: no spool there (an `edgepower profile` output folder "
                                    "holds one in spool/, unless it ran with --no-spool)")
        sp = read_spool(path, samples=False)
        profiles = sp.of_type("profile")
        if not profiles:
            raise ValueError(f"--resume {args.resume}: {path} is not the spool of a profile (no 'profile' record)")
        rec = self.recorded = profiles[-1]
        settings = rec.get("settings", {})
        if settings.get("mode") == "in-situ":
            raise ValueError(f"--resume {args.resume}: an in-situ profile has no finished windows to reuse; run it "
                             "again instead")
        parser = _PARSER[0]
        differ = [f"{_option(k)} {getattr(args, k)!r} (the spool has {settings.get(k)!r})" for k in SETTINGS
                  if k in settings and _given(args, k, parser) and getattr(args, k) != settings[k]]
        if differ:
            raise ValueError(f"--resume {args.resume}: these settings differ from the interrupted profile's: "
                             f"{'; '.join(differ)}. Resume without them (the recorded settings are used) or start "
                             "a new profile in another folder (-o)")
        for k in SETTINGS:
            if k in settings:
                setattr(args, k, settings[k])
        if args.out == parser.get_default("out"):  # OUT of OUT/spool, else the folder recorded
            args.out = out if _session_number(path) else str(rec.get("out", out))
        self.resume_from = path
        self.resumed = _complete_windows(sp.profile_windows)

    # ---- once the model and the profiler exist ----------------------------------------------------
    def make_monitor(self, sensor: Any) -> Any:
        """A monitor with the spool (None without one: the profiler makes its own)."""
        if self.spool_dir is None:
            return None
        from ..monitor import PowerMonitor

        if self.replace:
            _remove_spools(self.args.out)
        parent = os.path.dirname(os.path.abspath(self.spool_dir))
        self._made_out = None if os.path.isdir(parent) else parent
        os.makedirs(parent, exist_ok=True)
        self.monitor = PowerMonitor(sensor, rate_hz=self.args.rate, spool=self.spool_dir,
                                    spool_sync_s=self.args.spool_sync)
        return self.monitor

    def failed(self) -> None:
        """The profile failed before measuring anything: removes the output folder this session
        created for the spool if it is still empty (a spool with samples is always kept)."""
        made = getattr(self, "_made_out", None)
        if made and os.path.isdir(made) and not os.listdir(made):
            os.rmdir(made)

    def attach(self, prof: Any, model: Any, margs: Any, mkwargs: Any) -> None:
        """Checks the model against the spool's on --resume, records the settings, and hands the
        finished windows to the profiler."""
        from ..profile import describe_inputs

        fp = {"model_class": type(model).__name__, "params": int(sum(p.numel() for p in model.parameters())),
              "layers": [str(x) for x in prof.layer_names], "inputs": describe_inputs(margs, mkwargs),
              "sensor": prof.sensor.info.kind}
        old = self.recorded.get("fingerprint")
        if old is not None:
            differ = [f"{k}: {fp[k]!r} now, {old.get(k)!r} in the spool" for k in fp if old.get(k) != fp[k]]
            if differ:
                raise ValueError(f"--resume {self.args.resume}: the model or sensor is not the interrupted profile's "
                                 f"({'; '.join(differ)}); start a new profile in another folder (-o)")
        prof.resume = self.resumed
        if self.monitor is None or self.monitor.spool is None:
            return
        spool = self.monitor.spool
        spool.note({"type": "profile", "settings": {k: getattr(self.args, k) for k in SETTINGS}, "fingerprint": fp,
                    "out": self.args.out, "resumed_from": self.resume_from})
        for (label, r), ws in self.resumed.items():
            for w in ws:
                spool.note({"type": "profile_window", "site_windows": len(ws), "resumed_from": self.resume_from,
                            **w.to_dict()})

    # ---- the end ----------------------------------------------------------------------------------
    def interrupted(self, exc: Any) -> int:
        """Ctrl-C while profiling: writes the partial report; returns the exit status, 130."""
        args = self.args
        hint = (f"; the spool {self.spool_dir} keeps what was measured" if self.spool_dir else "")
        if self.spool_dir and args.mode == "isolation" and exc.finished:
            hint += f": finish it with `edgepower profile --resume {args.out}`"
        if exc.report is None:
            print(f"interrupted (Ctrl-C) during {exc.stage}: no report written{hint}", file=sys.stderr)
            return 130
        paths = exc.report.write(args.out, prefix="partial-")
        print(exc.report.summary())
        print()
        print(f"INTERRUPTED (Ctrl-C): wrote the PARTIAL report of {exc.finished} of {exc.planned} windows to "
              f"{args.out}:")
        for key in ("layers_csv", "samples_csv", "json"):
            print(f"  {os.path.basename(paths[key])}")
        if self.spool_dir:
            print(f"finish it with: edgepower profile --resume {args.out}")
        return 130

    def annotate(self, report: Any) -> None:
        """The report's ``meta["spool"]`` and, when resumed, ``meta["resumed"]``."""
        report.meta["spool"] = self.spool_dir
        if self.resume_from is not None:
            reused = sum(len(v) for v in self.resumed.values())
            report.meta["resumed"] = {
                "from": self.resume_from, "windows_reused": reused,
                "note": "the reused windows keep the energies measured in their session; net figures use this "
                        "session's idle baseline; samples.csv holds this session's samples (earlier ones are in "
                        "the earlier spools)"}

    def finished(self, report_path: str) -> None:
        """After the report is written: the spool says so (a new profile may replace it); a resumed
        profile's partial files go."""
        if self.monitor is not None and self.monitor.spool is not None and self.monitor.spool.closed:
            from ..spool import append_record

            append_record(self.spool_dir, {"type": "report", "path": report_path})
        if self.resume_from is not None:
            for p in glob.glob(os.path.join(glob.escape(self.args.out), "partial-*")):
                os.remove(p)
            print(f"resumed from {self.resume_from}: {sum(len(v) for v in self.resumed.values())} windows reused")


def _session_number(path: str) -> int:
    """1 for OUT/spool, N for OUT/spool-N, 0 for a folder named otherwise (--spool DIR)."""
    m = re.fullmatch(r"spool(?:-(\d+))?", os.path.basename(os.path.normpath(path)))
    return int(m.group(1) or 1) if m else 0


def _remove_spools(out: str) -> None:
    import shutil

    for d in glob.glob(os.path.join(glob.escape(out), "spool*")):
        if re.fullmatch(r"spool(?:-\d+)?", os.path.basename(d)) and os.path.isdir(d):
            shutil.rmtree(d)


def _complete_windows(records: List[Dict[str, Any]]) -> Dict[Tuple[str, int], List[Any]]:
    """(label, round) -> Windows, for the call sites whose every window of that round is in the
    spool (an in-place layer has two: its calls and its restore copies)."""
    from ..report import Window

    names = {f.name for f in dataclasses.fields(Window)}
    floats = {f.name for f in dataclasses.fields(Window) if f.type == "float"}
    groups: Dict[Tuple[str, int], List[Any]] = {}
    for r in records:
        kw = {k: (math.nan if v is None and k in floats else v) for k, v in r.items() if k in names}
        groups.setdefault((kw["label"], int(kw["round"])), []).append((int(r.get("site_windows", 1)), Window(**kw)))
    return {k: [w for _, w in v] for k, v in groups.items() if len(v) == v[0][0]}


__all__ = ["SETTINGS", "Session", "add_arguments"]
