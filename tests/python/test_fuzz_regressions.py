"""Every seed and every kept finding of the Python fuzz targets (tests/fuzz/python/, run by
scripts/fuzz.sh) replayed through its target: each parses or fails with its documented exception
and a message. Needs no atheris."""
import functools
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUZZ = ROOT / "tests" / "fuzz"
TARGETS = sorted(p.stem for p in (FUZZ / "python").glob("fuzz_py_*.py"))


@functools.lru_cache(maxsize=None)
def _target(name):
    spec = importlib.util.spec_from_file_location(name, FUZZ / "python" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.test_one


def _inputs():
    for t in TARGETS:
        short = t[len("fuzz_"):]
        for folder in (FUZZ / "corpus" / short, FUZZ / "regressions" / short):
            for p in sorted(folder.glob("*")) if folder.is_dir() else []:
                yield pytest.param(t, p, id=f"{short}/{folder.parent.name}/{p.name}")


def test_every_target_has_seeds():
    assert TARGETS
    for t in TARGETS:
        assert any((FUZZ / "corpus" / t[len("fuzz_"):]).iterdir()), t


@pytest.mark.parametrize("target, path", list(_inputs()))
def test_kept_input_parses_or_fails_with_a_message(target, path):
    if target == "fuzz_py_edgeprofiler":
        pytest.importorskip("pandas")
    _target(target)(path.read_bytes())
