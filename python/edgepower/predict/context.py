"""What the layer before does to a small layer's latency, measured inside the running network.

A batch norm, activation or pooling layer of 10-100 us costs more right after a long layer than
after a short one (on the zoo, resnet18's 512x2x2 batch norms take 80 us after a 0.36 ms 1x1
convolution and 170-200 us after a 4 ms 3x3 one), presumably as the long layer displaced from
the caches the code and data of the dispatch path, the allocator's state and the small layer's
parameters, which the small layer then reloads. A layer's measured figure includes that (it is what it costs in the
network), so the latency model of memory-bound op groups gets a monotone term in the duration
of the preceding layer call.

The preceding duration comes from a first, context-free fit (the same additive models without
these terms), in training and in prediction alike, so a prediction needs only the network's
features in call order, never a measurement.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Sequence

import numpy as np

#: Op groups whose latency model has the context terms (memory-bound, short calls).
GROUPS = ("norm", "activation", "pool", "adaptive_pool", "passthrough", "generic")
#: log2 of the preceding layer's duration in ns (4 us to 16 ms, one octave apart) where the
#: cost it adds to the next layer may change slope.
KNOTS = tuple(float(k) for k in range(12, 25))
#: Row key of the context-free duration of the preceding layer call (s).
KEY = "prev_latency_s"


def context_terms(row: Dict[str, Any]) -> Dict[str, float]:
    """Rising ramps in ``log2`` of the preceding call's duration (ns) between consecutive
    :data:`KNOTS`: ramp ``j`` is 0 up to knot ``j``, 1 from knot ``j + 1`` on. A non-negative sum
    of them is any piecewise-linear cost, in seconds per call, that never decreases with the
    preceding duration and is flat past the last knot. 0 for the first layer of a network."""
    prev = float(row.get(KEY) or 0.0)
    x = math.log2(max(prev * 1e9, 1.0))
    return {f"after{j}": min(max((x - a) / (b - a), 0.0), 1.0) for j, (a, b) in enumerate(zip(KNOTS[:-1], KNOTS[1:]))}


def with_context(rows: Sequence[Dict[str, Any]], first: np.ndarray) -> List[Dict[str, Any]]:
    """Copies of ``rows`` (layer calls in call order, several networks one after the other)
    with :data:`KEY`: the duration ``first`` gives the row before in the same network, 0.0 for
    a network's first row."""
    out = []
    for i, r in enumerate(rows):
        same = i > 0 and rows[i - 1].get("network") == r.get("network")
        out.append(dict(r, **{KEY: float(first[i - 1]) if same else 0.0}))
    return out


__all__ = ["GROUPS", "KEY", "KNOTS", "context_terms", "with_context"]
