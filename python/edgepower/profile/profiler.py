"""The layer-wise energy profiler: settings in, a Report out.

:class:`LayerProfiler` validates its settings once (:class:`~.options.ProfileOptions`), builds
the sensor and the monitor once, and for each :meth:`~LayerProfiler.profile` runs a
:class:`~.run.Run` through the mode's strategy (:mod:`.isolation` or :mod:`.insitu`), which only
produces windows; rows come from :mod:`.rows`, provenance from :func:`.run.provenance`.

The method of isolation mode

Method (docs/profiler.md has the long form):

1. **Capture.** One dry run of the model, in eval mode under :func:`torch.inference_mode`, with a
   forward pre-hook (``with_kwargs=True``) on every selected layer. Each call's args and kwargs
   are kept, tensors detached and cloned before the layer runs (so an in-place layer cannot
   change what was captured), other values as they are. A module called several times in one
   forward (a shared ReLU) gives one call site per call, ``relu#0``, ``relu#1``. The hooks are
   removed on every path, exceptions and KeyboardInterrupt included.
2. **Idle baseline.** The sampler runs while the process sleeps for ``idle_s`` (or the caller
   passes ``idle_power_w``); net energy = gross - idle power x time.
3. **Isolation.** In rounds, each in a fresh random order of the call sites and the whole model:
   per call site, ``warmup`` calls, then repeated calls inside a window marked on the monitor's
   timeline (``CUDA`` synchronised before and after). The window is either ``repeats`` calls
   (fixed) or, by default, as many calls as it takes for the window to last
   ``max(min_window_s, k_updates x sensor update interval)`` and at least ``min_repeats`` calls.
   A call site that changes its own input (an in-place layer) is detected on its first warm-up
   call; its input is then restored from the captured copy before every call, and the cost of
   the restore copies alone, measured in a window of its own, is subtracted. A layer of a model
   whose working set exceeds the last-level cache runs with its weights and output as cold as
   in the model (:mod:`.cache`).
4. **Figures.** Per call site and round: latency = window / calls, energy per inference =
   window energy / calls. Over rounds: mean and 95 % confidence interval (Student t). The
   ``(unattributed)`` row is the whole model minus the sum of the layers (functional ops such
   as ``torch.flatten`` or residual adds, and whatever isolation changes), and the closure
   ratio is sum of layers / whole model.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Dict, Optional, Sequence, Union

import numpy as np

from .._native import core as _core
from ..energy.estimators import Estimator
from ..monitor import PowerMonitor
from ..report import Report
from ..sensors import create_sensor
from .insitu import measure as measure_in_situ
from .insitu import outcome as in_situ_outcome
from .isolation import measure as measure_isolation
from .isolation import outcome as isolation_outcome
from .labels import preset_labels, relabel
from .options import DEFAULT_CI_TARGET_PCT, InSituOptions, ProfileOptions
from .partial import interrupted
from .precision import rounds_in
from .presets import select_layers
from .progress import ProgressBar
from .rows import build_rows, closure_stats
from .run import Outcome, Progress, Run, idle_drift_warnings, provenance
from .sampling import (DEFAULT_K_UPDATES, DEFAULT_MAX_ROUND_S, DEFAULT_MIN_WINDOW_S, DEFAULT_ROUNDS, sampling_defaults,
                       window_defaults)


class LayerProfiler:
    """Measures the energy and latency of each layer of a PyTorch model at inference.

    Parameters
    ----------
    model : torch.nn.Module
        The model. It is put in eval mode while profiling and its modes restored after.
    sensor : str or Sensor
        Sensor spec (``"auto"``: the best available here; ``"constant:5"``, ``"regions:..."``
        for synthetic sources; see :func:`edgepower.sensors`) or a sensor object.
    rate_hz : float, optional
        Sampling rate of the monitor. Default 1000 Hz; in situ on an INA3221 that averages
        several conversions per reading (sysfs ``samples`` > 1, e.g. NVIDIA's N=512), 5000 Hz,
        which its deconvolution needs (:mod:`edgepower.profile.sampling`).
    layers : None, str or list of str
        None: leaf modules. A preset name (``"auto"``, ``"leaves"``, ``"vgg"``,
        ``"distilbert"``) or explicit module names (``"features.0"``, ``"features[0]"``).
    depth : int, optional
        Profile the modules this many levels down instead (and shallower leaves).
    repeats : "auto" or int
        ``"auto"`` (default): adaptive windows (see ``min_window_s``, ``k_updates``,
        ``min_repeats``). An int: exactly that many calls per window (the method of the tools
        that run each layer 100 times).
    min_window_s : float, optional
        Shortest adaptive window, seconds. Default 0.2; 0.05 on the CPU estimates
        (``profile/sampling.py``).
    k_updates : float, optional
        Adaptive windows also last at least this many sensor update intervals. Default 10; 5 on
        the CPU estimates.
    min_repeats : int
        Fewest calls in an adaptive window.
    warmup : int
        Calls before each window, not measured.
    rounds : int, optional
        Each round measures every call site and the whole model once, in a new random order;
        figures are the mean over rounds with a 95 % confidence interval. Default 3; 16 on the
        CPU estimates, whose spread is the machine's from round to round (``profile/sampling.py``).
    ci_target_pct : float or None
        Isolation: after the planned rounds, each call site whose net energy's 95 % CI is wider
        than this % of it (and excludes zero) is measured in extra rounds until it is within, up
        to ``max_rounds`` and half the planned rounds' time (:mod:`edgepower.profile.precision`;
        what happened is in ``meta["method"]["precision"]``). Default 10; None: exactly
        ``rounds`` rounds.
    max_rounds : int, optional
        Most rounds a call site is measured in with ``ci_target_pct``. Default 4 x ``rounds``.
    allocator : str
        ``"steady"`` (default): glibc's malloc keeps freed activations for reuse (its mmap and
        trim thresholds set to the maxima of its own adjustment, for the rest of the process), so
        page faults do not land at random in a layer's windows (:mod:`edgepower.profile.allocator`);
        ``"as-is"``: the allocator is left alone.
    idle_s : float
        Seconds of idle baseline measured before profiling (0: none, unless ``idle_power_w``).
    idle_power_w : float, optional
        A known idle power to subtract instead of measuring it.
    seed : int
        Seed of the shuffled order.
    edge_retries : int
        A window whose edges the sampler did not sample on time (samples more than 4 periods
        apart around an edge, as when the sampler thread is starved of CPU) is measured again,
        up to this many times; the gap is reported per window.
    trace_model : bool
        While the whole model is measured, also mark each layer's region on the timeline (one
        hook call per layer call). Gives region-following sensors and traces the layers inside
        the whole model; adds a little time to the whole-model figure.
    mode : {"isolation", "in-situ"}
        ``"isolation"`` (default): each layer alone, as described above. ``"in-situ"``: the whole
        model runs repeatedly with hooks marking each layer on the timeline, and every sample
        goes to the layer running when it was taken (:mod:`edgepower.profile.insitu`). In-situ, a
        round is a number of forwards (``repeats``, or adaptive: until the shortest layer has
        run ``max(min_window_s, k_updates x update interval)``, at most ``max_round_s``).
    sync_layers : bool
        In-situ on CUDA: synchronise the device in every hook (exact marks, changed timing).
        Default False: CUDA events mark the layers and the device is synchronised once per forward.
    max_delay_s : float, optional
        In-situ: random delay before each forward, uniform in ``[0, max_delay_s]``; default the
        sensor's update interval (at least two sample periods).
    max_round_s : float, optional
        In-situ: longest round of adaptive forwards, seconds. Default 5; 15 where the rate
        defaults to 5000 Hz (above). ``meta["method"]["sampling"]`` says which applied.
    attribution : {"auto", "assignment"}
        In-situ: how readings become per-layer power. ``"auto"`` (default): where the sensor
        integrates (an INA3221, its model known or identified), each round's readings are
        deconvolved: every reading is the known mix of the layers' and idle power over its
        conversion (and running average), solved by non-negative least squares
        (:mod:`edgepower.energy.deconvolution`); elsewhere, and ``"assignment"``, each reading goes
        to the layer running when it was taken.
    monitor : PowerMonitor, optional
        Use this monitor (its sensor and timeline) instead of making one; it is started if
        needed and stopped only if the profiler started it.
    progress : True or callable, optional
        True: a progress bar (``tqdm.auto``: a widget in Jupyter, text in a terminal). A
        callable: called with a :class:`Progress` as profiling advances (the CLI draws its bar
        with it).
    before_window : callable, optional
        Called as ``before_window(label, round)`` before each call site's warm-up and window,
        e.g. :class:`edgepower.profile.PhaseShift` to spread the windows' phases.
    estimator : "auto", "plain" or Estimator
        ``"auto"`` (default): the sensor-aware estimator wherever the sensor's model is known or
        identified (an INA3221 is identified once per board and configuration by a short step,
        then cached; counters and boxcar readings are measured; see
        :mod:`edgepower.profile.identify`), else plain, with the reason in ``meta["estimator"]``.
        ``"plain"``: the trapezoid / counter difference. An :class:`edgepower.energy.Estimator`:
        that model and method.
    cache_context : {"model", "warm"}
        Isolation: ``"model"`` (default): where the model's working set (state and one
        forward's activations) exceeds the last-level cache, each layer runs with its weights
        and output as cold as in the model's forward (each call on the next of several copies
        of the layer, the last outputs kept; :mod:`edgepower.profile.cache`), else warm;
        ``"warm"``: every layer with its weights and output in cache (faster, lower figures
        than in the model). ``meta["method"]["cache_context"]`` says which, and why.
    options : ProfileOptions, optional
        All the settings from ``repeats`` to ``max_round_s`` (and ``mode``) as one validated
        record (:class:`edgepower.profile.ProfileOptions`); when given, those keywords are not
        used.

    Examples
    --------
    >>> prof = LayerProfiler(model, sensor="auto")                # doctest: +SKIP
    >>> report = prof.profile(torch.randn(1, 3, 224, 224))        # doctest: +SKIP
    >>> print(report.summary()); report.to_pandas()               # doctest: +SKIP
    """

    def __init__(self, model: Any, sensor: Union[str, "_core.Sensor"] = "auto", rate_hz: Optional[float] = None, *,
                 layers: Union[None, str, Sequence[str]] = None, depth: Optional[int] = None,
                 repeats: Union[str, int] = "auto", min_window_s: Optional[float] = None,
                 k_updates: Optional[float] = None,
                 min_repeats: int = 3, warmup: int = 2, rounds: Optional[int] = None, idle_s: float = 1.0,
                 idle_power_w: Optional[float] = None, seed: int = 0, trace_model: bool = False,
                 edge_retries: int = 2,
                 mode: str = "isolation", sync_layers: bool = False, max_delay_s: Optional[float] = None,
                 max_round_s: Optional[float] = None, attribution: str = "auto",
                 monitor: Optional[PowerMonitor] = None,
                 progress: Optional[Callable[[Progress], None]] = None,
                 before_window: Optional[Callable[[str, int], None]] = None,
                 estimator: Union[str, Estimator] = "auto", cache_context: str = "model",
                 ci_target_pct: Optional[float] = DEFAULT_CI_TARGET_PCT, max_rounds: Optional[int] = None,
                 allocator: str = "steady", options: Optional[ProfileOptions] = None):
        import torch

        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}; wrap a function in a "
                            "Module or measure it with edgepower.PowerMonitor")
        if options is not None and not isinstance(options, ProfileOptions):
            raise TypeError(f"options must be an edgepower.profile.ProfileOptions, got {type(options).__name__}")
        self._estimator = estimator if isinstance(estimator, Estimator) else None
        self.options = options if options is not None else ProfileOptions(
            estimator="auto" if self._estimator is not None else estimator, cache_context=cache_context,
            mode=mode, repeats=repeats, min_window_s=DEFAULT_MIN_WINDOW_S if min_window_s is None else min_window_s,
            k_updates=DEFAULT_K_UPDATES if k_updates is None else k_updates, min_repeats=min_repeats,
            warmup=warmup, rounds=DEFAULT_ROUNDS if rounds is None else rounds, idle_s=idle_s, idle_power_w=idle_power_w, seed=seed,
            trace_model=trace_model, edge_retries=edge_retries, ci_target_pct=ci_target_pct,
            max_rounds=max_rounds, allocator=allocator, in_situ=InSituOptions(sync_layers=sync_layers, max_delay_s=max_delay_s,
                                  max_round_s=DEFAULT_MAX_ROUND_S if max_round_s is None else max_round_s,
                                  attribution=attribution))
        if progress is True:
            progress = ProgressBar()
        if progress is not None and not callable(progress):
            raise TypeError("progress must be True (a tqdm bar), a callable taking a Progress, or None")
        if before_window is not None and not callable(before_window):
            raise TypeError("before_window must be a callable taking (label, round), or None")
        if monitor is not None and not isinstance(monitor, PowerMonitor):
            raise TypeError(f"monitor must be an edgepower.PowerMonitor, got {type(monitor).__name__}")
        self.model = model
        self.layer_names = select_layers(model, layers, depth)  # fails early on unknown names
        self.layers_spec = layers if depth is None else f"depth={depth}"
        self.progress = progress
        self.before_window = before_window
        self._monitor = monitor
        self.resume: Dict[Any, Any] = {}  # (label, round) -> windows measured before (edgepower.cli.resume)
        # The sensor is built once, here, so an unavailable one fails before any work is done;
        # the sampler's own check of rate_hz (native, the one rule) runs here too.
        if rate_hz is not None and (isinstance(rate_hz, bool) or not isinstance(rate_hz, (int, float))):
            raise ValueError(f"rate_hz must be a number of Hz or None (the default for the sensor), got {rate_hz!r}")
        self.sensor = monitor.sensor if monitor is not None else create_sensor(sensor)
        # Left out, the rate and the in-situ round length suit the sensor (profile/sampling.py).
        rate, max_round, self.sampling_why = sampling_defaults(
            self.sensor.info, self.options.mode, self.options.in_situ.attribution,
            rate_hz if monitor is None else monitor.rate_hz,
            max_round_s if options is None else self.options.in_situ.max_round_s)
        if max_round != self.options.in_situ.max_round_s:
            self.options = replace(self.options, in_situ=replace(self.options.in_situ, max_round_s=max_round))
        # Left out, the isolation rounds and window length suit the sensor too.
        o = self.options
        n, window, k, why = window_defaults(self.sensor.info, o.mode, *((o.rounds, o.min_window_s, o.k_updates)
                                                                        if options is not None else
                                                                        (rounds, min_window_s, k_updates)))
        self.sampling_why += "; " + why
        if (n, window, k) != (o.rounds, o.min_window_s, o.k_updates):
            self.options = replace(o, rounds=n, min_window_s=window, k_updates=k)
        self.rate_hz = monitor.rate_hz if monitor is not None else rate
        if monitor is None:
            _core.Sampler.check_rate_hz(self.rate_hz)

    @property
    def mode(self) -> str:
        return self.options.mode

    # ---- public ---------------------------------------------------------------------------------
    def profile(self, *args: Any, **kwargs: Any) -> Report:
        """Profiles one forward ``model(*args, **kwargs)`` layer by layer.

        Returns
        -------
        Report

        Raises
        ------
        ValueError
            The model rejects the inputs (the message names the model and the input shapes).
        KeyboardInterrupt
            Passed on after the hooks are removed, the model's modes restored and the monitor
            stopped, as :class:`~edgepower.profile.partial.ProfileInterrupted` carrying the report
            of the windows that finished (``meta["partial"]``).
        """
        monitor = self._monitor or PowerMonitor(self.sensor, rate_hz=self.rate_hz)
        saved = monitor.estimator  # a caller's monitor gets its own estimator back afterwards
        monitor.estimator = self._estimator or (None if self.options.estimator == "plain" else saved)
        try:
            return self._profile(monitor, args, kwargs)
        finally:
            monitor.estimator = saved

    def _profile(self, monitor: PowerMonitor, args: Any, kwargs: Any) -> Report:
        run = Run(model=self.model, options=self.options, monitor=monitor, args=args, kwargs=kwargs,
                  sampling_why=self.sampling_why,
                  emit=self._emit, layers_spec=self.layers_spec, layer_names=list(self.layer_names))
        run.resumed = self.resume
        in_situ = self.options.mode == "in-situ"
        try:
            try:
                run.prepare()
                run.start()
                recorded = measure_in_situ(run) if in_situ else measure_isolation(run, self.before_window)
                run.idle_after()
            finally:
                run.finish()
        except KeyboardInterrupt:  # a ProfileInterrupted with the report of the finished windows
            raise interrupted(run, self._report) from None
        self._emit(Progress("done", 1, 1))
        # Sampling has stopped: every figure comes from this one copy of the samples.
        s = monitor.samples()
        power = monitor.total_power(s) if len(s) else np.zeros(0)
        outcome = in_situ_outcome(run, recorded, s, power) if in_situ else isolation_outcome(run, recorded)
        return self._report(run, outcome, s, power)

    def _emit(self, p: Progress) -> None:
        if self.progress is not None:
            self.progress(p)

    @staticmethod
    def _report(run: Run, outcome: Outcome, s: Any, power: np.ndarray) -> Report:
        monitor = run.monitor
        assert run.whole is not None
        rounds = rounds_in(outcome.windows, run.options.rounds)  # with the extra rounds (precision.py)
        rows = build_rows(run.sites, run.whole, outcome.windows, run.idle_power_w, rounds,
                          monitor.info.kind, bool(monitor.info.estimated), run.model)
        if outcome.annotate is not None:
            outcome.annotate(rows)
        for w in idle_drift_warnings(run, rows):
            run.warn(w)
        meta = provenance(run, outcome.method)
        meta["closure"] = closure_stats(run.sites, outcome.windows, run.idle_power_w, rounds)
        # Labels last: the figures above match windows to call sites by their module paths.
        labels = preset_labels(run.model, run.layers_spec)
        relabel(rows, outcome.windows, outcome.cycles, labels)
        if labels:
            meta["labels"] = {"preset": "distilbert", "modules": labels}
        return Report(rows=rows, windows=outcome.windows, meta=meta, samples={"t_ns": s.t_ns, "power_w": power, "rail_power_w": s.power_w},
                      cycles=outcome.cycles, attribution_t_ns=outcome.attribution_t_ns)


def profile_layers(model: Any, *inputs: Any, model_kwargs: Optional[Dict[str, Any]] = None, **options: Any) -> Report:
    """One call: ``LayerProfiler(model, **options).profile(*inputs, **model_kwargs)``.

    Examples
    --------
    >>> report = edgepower.profile_layers(model, x, sensor="auto", rounds=3)   # doctest: +SKIP
    """
    return LayerProfiler(model, **options).profile(*inputs, **(model_kwargs or {}))


__all__ = ["LayerProfiler", "profile_layers"]
