"""The package's shape (docs/architecture.md): no import loops, no module past 400 lines without
a reason at its top, no reaching into another module's private names, one subpackage per stage."""
import ast
import os

import pytest

import edgepower

# The source tree (the checkout under test), whether the package is installed or on PYTHONPATH.
PKG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "python", "edgepower")
MAX_LINES = 400
# Modules kept for one release under their 0.1 names (CHANGELOG.md): they only re-export.
DEPRECATED = {"edgepower.methods", "edgepower.profiler", "edgepower.insitu", "edgepower.presets",
              "edgepower.accuracy"}


def _modules():
    mods = {}
    for d, _, files in os.walk(PKG_DIR):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(d, f)
                rel = os.path.relpath(path, os.path.dirname(PKG_DIR))[:-3].replace(os.sep, ".")
                mods[rel[: -len(".__init__")] if rel.endswith(".__init__") else rel] = path
    return mods


MODULES = _modules()


def _imports(name, path):
    """(module imported, names taken from it) for every import in the module, deferred ones too."""
    is_pkg = path.endswith("__init__.py")
    pkg = name if is_pkg else name.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                out.append((sub, None) if sub in MODULES else (base, a.name))
        elif isinstance(node, ast.Import):
            out += [(a.name, None) for a in node.names]
    return [(m, n) for m, n in out if m in MODULES and m != name]


def _graph():
    # An edge into a package's own __init__ from inside it (a re-export) is not a dependency of
    # the package on the module: only edges between modules count.
    g = {}
    for name, path in MODULES.items():
        g[name] = {m for m, _ in _imports(name, path) if not name.startswith(m + ".") and m != "edgepower"}
    return g


def _loops(graph):
    loops, state = [], {}

    def visit(u, stack):
        state[u] = 1
        for v in sorted(graph[u]):
            if state.get(v) == 1:
                loops.append(" -> ".join(stack[stack.index(v):] + [v]))
            elif v not in state:
                visit(v, stack + [v])
        state[u] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    return loops


def test_no_import_loops():
    assert _loops(_graph()) == []


def test_the_loop_finder_finds_loops():
    # The check above can fail: loops of two and three modules are found, a chain is not a loop.
    assert _loops({"a": {"b"}, "b": {"a"}}) == ["a -> b -> a"]
    assert _loops({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a -> b -> c -> a"]
    assert _loops({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_modules_are_small_or_say_why():
    big = []
    for name, path in MODULES.items():
        text = open(path).read()
        lines = text.count("\n")
        if lines > MAX_LINES and "one piece" not in text[:2000]:
            big.append(f"{name} ({lines} lines)")
    assert big == []


def test_no_module_reaches_into_another_modules_private_names():
    bad = []
    for name, path in MODULES.items():
        for mod, taken in _imports(name, path):
            # edgepower._core is the compiled extension, reached only through edgepower._native.
            if taken and taken.startswith("_") and not taken.startswith("__") and taken != "_core" \
                    and mod != "edgepower._native":
                bad.append(f"{name} takes {taken} from {mod}")
    assert bad == []


@pytest.mark.parametrize("stage", ["sensors", "energy", "profile", "export", "cli", "testing", "edgeprofiler"])
def test_each_stage_is_a_subpackage(stage):
    assert os.path.isfile(os.path.join(PKG_DIR, stage, "__init__.py"))


@pytest.mark.parametrize("old", sorted(DEPRECATED))
def test_deprecated_modules_warn_and_still_work(old):
    import importlib
    import sys

    pytest.importorskip("torch")  # the old modules re-export the profiler, which needs torch
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match="CHANGELOG"):
        mod = importlib.import_module(old)
    assert mod.__all__ and all(hasattr(mod, n) for n in mod.__all__)


def test_public_api_is_unchanged():
    for name in ("PowerMonitor", "profile_layers", "LayerProfiler", "Report", "create_sensor", "sensors",
                 "CompensatedMonitor", "Measurement", "Samples", "SensorError", "SensorUnavailable", "now_ns"):
        assert name in edgepower.__all__, name
    # Resolved (the profiler's names load lazily and need torch: checked where torch is).
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
    for name in edgepower.__all__:
        if have_torch or name not in ("profile_layers", "LayerProfiler", "predict"):
            assert hasattr(edgepower, name), name
    from edgepower.cli import main  # the console script's entry point

    assert callable(main)
