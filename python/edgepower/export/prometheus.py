"""A running :class:`~edgepower.PowerMonitor` as a Prometheus exporter (``prometheus_client``).

Unlike the rest of :mod:`edgepower.export` this serves a live monitor, not a report:
``edgepower monitor --prometheus 127.0.0.1:9464`` (or :func:`serve`) answers ``/metrics`` with

=========================================  =======  ================================================
``edgepower_power_watts{rail}``            gauge    the latest reading of each rail
``edgepower_board_power_watts``            gauge    the board total (total rail, else the sum of rails)
``edgepower_energy_joules_total{rail}``    counter  energy per rail since the exporter started
``edgepower_board_energy_joules_total``    counter  the board total's energy
``edgepower_monitored_seconds_total``      counter  the time those energies cover (first sample to
                                                    the latest)
``edgepower_samples_total``                counter  samples recorded
``edgepower_sample_rate_hz``               gauge    achieved sampling rate
``edgepower_sensor_info{...}``             gauge 1  sensor kind, description, estimated, total rail
=========================================  =======  ================================================

Energies are integrated incrementally at each scrape, from the samples recorded since the last
one (the monitor's own trapezoid or counter differences, :meth:`PowerMonitor.measure`), so a
scrape costs time proportional to the samples since the previous scrape, not since the start.
An estimate (``cpu-estimate``) says so in ``edgepower_sensor_info{estimated="true"}``.
"""
from __future__ import annotations

import math
import threading
from typing import Any, Iterator, Optional, Tuple

import numpy as np

from ..sensors.info import board_total, total_rail_name


class MonitorCollector:
    """A ``prometheus_client`` collector over one running monitor (thread-safe: scrapes may
    come from several server threads)."""

    def __init__(self, monitor: Any):
        self.monitor = monitor
        self.rails = list(monitor.rails)
        self._lock = threading.Lock()
        self._t_ns: Optional[int] = None
        self._t0_ns: Optional[int] = None
        self._energy = np.zeros(len(self.rails))
        self._board_j = 0.0

    def _advance(self) -> Tuple[int, Optional[np.ndarray]]:
        sampler = self.monitor.sampler
        n = len(sampler)
        if n == 0:
            return 0, None
        last = sampler.samples(n - 1, n)
        t_last = int(last["t_ns"][0])
        if self._t_ns is None:
            self._t_ns = self._t0_ns = int(sampler.samples(0, 1)["t_ns"][0])
        if t_last > self._t_ns:
            m = self.monitor.measure(self._t_ns, t_last, name="prometheus", plain=True)
            per_rail = np.array([m.energy_per_rail_j.get(r, math.nan) for r in self.rails], dtype=np.float64)
            if math.isfinite(m.energy_j) and np.isfinite(per_rail).all():
                self._energy += per_rail
                self._board_j += float(m.energy_j)
                self._t_ns = t_last
        return n, np.asarray(last["power_w"][0], dtype=np.float64)

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        info = self.monitor.info
        with self._lock:
            n, power = self._advance()
            energy, board_j = self._energy.copy(), self._board_j
            span_s = ((self._t_ns or 0) - (self._t0_ns or 0)) * 1e-9
        sensor = GaugeMetricFamily("edgepower_sensor_info", "The sensor edgepower samples (value 1)",
                                   labels=["sensor", "description", "estimated", "total_rail"])
        sensor.add_metric([info.kind, info.description, str(bool(info.estimated)).lower(), total_rail_name(info)], 1)
        yield sensor
        if power is not None and info.has_power:
            g = GaugeMetricFamily("edgepower_power_watts", "Latest power reading per rail (W)", labels=["rail"])
            for r, p in zip(self.rails, power.tolist()):
                if math.isfinite(p):
                    g.add_metric([r], p)
            yield g
            total = board_total(info, power)
            if math.isfinite(total):
                yield GaugeMetricFamily("edgepower_board_power_watts", "Latest board total power (W)", value=total)
        c = CounterMetricFamily("edgepower_energy_joules", "Energy per rail since the exporter started (J)",
                                labels=["rail"])
        for r, e in zip(self.rails, energy.tolist()):
            c.add_metric([r], e)
        yield c
        yield CounterMetricFamily("edgepower_board_energy_joules", "Board total energy since the exporter started (J)",
                                  value=board_j)
        yield CounterMetricFamily("edgepower_monitored_seconds", "Time the energies cover (s)", value=span_s)
        yield CounterMetricFamily("edgepower_samples", "Samples recorded", value=n)
        rate = self.monitor.provenance().get("achieved_rate_hz", math.nan)
        if isinstance(rate, float) and math.isfinite(rate):
            yield GaugeMetricFamily("edgepower_sample_rate_hz", "Achieved sampling rate (Hz)", value=rate)


def parse_address(text: str) -> Tuple[str, int]:
    """``HOST:PORT`` (``127.0.0.1:9464``, ``[::1]:9464``) -> (host, port); ValueError with the fix."""
    host, sep, port = str(text).rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--prometheus takes HOST:PORT, e.g. 127.0.0.1:9464 (0 picks a free port), got {text!r}")
    return host, int(port)


class Exporter:
    """The HTTP server of :func:`serve`: ``port`` (the one bound), ``url``, :meth:`close`."""

    def __init__(self, server: Any, thread: threading.Thread, collector: MonitorCollector):
        self.server, self.thread, self.collector = server, thread, collector
        self.host, self.port = server.server_address[:2]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Stops serving and closes the socket (idempotent)."""
        if self.thread.is_alive():
            self.server.shutdown()
            self.thread.join(timeout=5)
        self.server.server_close()


def serve(monitor: Any, host: str = "127.0.0.1", port: int = 9464) -> Exporter:
    """Serves ``monitor``'s metrics at ``http://host:port/metrics`` on a daemon thread, from a
    registry of its own (nothing else is exported). The monitor must be started by the caller."""
    try:
        from prometheus_client import CollectorRegistry, start_http_server
    except ImportError as exc:
        raise ImportError(f"the Prometheus exporter needs prometheus_client ({exc}); install it with "
                          "`pip install prometheus-client`") from None
    registry = CollectorRegistry(auto_describe=False)
    collector = MonitorCollector(monitor)
    registry.register(collector)
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ValueError(f"cannot serve Prometheus metrics on {host}:{port}: {exc}") from None
    return Exporter(server, thread, collector)


__all__ = ["Exporter", "MonitorCollector", "parse_address", "serve"]
