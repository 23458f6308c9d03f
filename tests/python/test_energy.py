"""The native energy functions (csrc/core/energy) through the bindings, against exact integrals
and NumPy."""
import math

import numpy as np
import pytest

from edgepower import _core

S = 1_000_000_000

# numpy >= 2.0 calls it trapezoid; 1.x (Python 3.8's newest numpy is 1.24) only trapz.
_trapezoid = getattr(np, "trapezoid", None) or np.trapz


def test_integrate_linear_ramp_exact_and_matches_numpy():
    t = np.array([0, 0.1, 0.35, 1.0, 1.5, 2.0]) * S
    t = t.astype(np.int64)
    p = 2.0 + 3.0 * t / S
    r = _core.integrate_power(t, p, int(0.2 * S), int(1.8 * S))
    exact = (2 * 1.8 + 1.5 * 1.8 ** 2) - (2 * 0.2 + 1.5 * 0.2 ** 2)
    assert r["energy_j"] == pytest.approx(exact, rel=1e-12)
    assert r["num_samples"] == 3
    assert r["status"] == 0 and r["reason"] == ""
    full = _core.integrate_power(t, p, int(t[0]), int(t[-1]))
    assert full["energy_j"] == pytest.approx(_trapezoid(p, t / S), rel=1e-12)


def test_two_dimensional_power_gives_one_result_per_rail():
    t = np.arange(5, dtype=np.int64) * S
    p = np.column_stack([np.full(5, 1.0), np.full(5, 4.0)])
    out = _core.integrate_power(t, p, 0, 4 * S)
    assert [r["energy_j"] for r in out] == [4.0, 16.0]


def test_uncovered_window_is_nan_with_reason_never_zero():
    t = np.array([S, 2 * S], dtype=np.int64)
    r = _core.integrate_power(t, np.ones(2), 0, 2 * S)
    assert math.isnan(r["energy_j"])
    assert "before the first sample" in r["reason"]
    with pytest.raises(ValueError, match="rows"):
        _core.integrate_power(t, np.ones(3), 0, S)


def test_counter_energy_with_wrap():
    t = np.arange(11, dtype=np.int64) * S
    c = np.mod(10.0 * np.arange(11), 32.0)
    r = _core.counter_energy(t, c, 32.0, 0, 10 * S)
    assert r["energy_j"] == pytest.approx(100.0)
    assert _core.counter_delta(31.0, 1.0, 32.0) == pytest.approx(2.0)
    np.testing.assert_allclose(_core.unwrap_counter(c, 32.0), 10.0 * np.arange(11))


def test_attribute_windows_matches_per_window_integration():
    rng = np.random.default_rng(3)
    t = np.cumsum(rng.integers(50_000, 150_000, 50_000)).astype(np.int64)
    p = rng.uniform(1, 9, t.size)
    t0 = rng.integers(t[0] - 10**6, t[-1], 2000).astype(np.int64)
    t1 = t0 + rng.integers(0, 20 * 10**6, 2000)
    e, n, st = _core.attribute_windows(t, p, t0, t1)
    for k in range(0, 2000, 37):
        r = _core.integrate_power(t, p, int(t0[k]), int(t1[k]))
        assert st[k] == r["status"]
        assert n[k] == r["num_samples"]
        if r["status"] == 0:
            assert e[k] == pytest.approx(r["energy_j"], rel=1e-9)
        else:
            assert math.isnan(e[k])


def test_repeat_stats_ci_uses_student_t():
    s = _core.repeat_stats(np.array([10.0, 12, 11, 13, 9]))
    assert s["mean"] == 11.0
    assert s["ci95_half_width"] == pytest.approx(2.776445 * math.sqrt(2.5) / math.sqrt(5), rel=1e-6)
    assert _core.student_t_quantile(0.975, 1) == pytest.approx(12.7062, abs=1e-4)
