"""What `pip install .` brings must be what the package imports: a third-party module imported
anywhere in python/edgepower is a declared dependency, or an optional one whose absence the code
reports with the command that installs it."""
import ast
import os
import re
import sys

# The source tree, not the installed copy: CI installs the package into a venv (no pyproject.toml
# beside it), and the check is about what this checkout declares.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PKG_DIR = os.path.join(ROOT, "python", "edgepower")
# Installed by the user for their device (torch), or needed only by one feature that says how to
# install it when it is missing.
OPTIONAL = {"torch", "torchvision", "transformers", "pytest", "mlflow", "prometheus_client", "perfetto",
            "sklearn", "IPython", "nbformat", "nbclient", "atheris", "mypy", "sphinx"}


def _declared():
    text = open(os.path.join(ROOT, "pyproject.toml")).read()
    deps = re.search(r"^dependencies = \[(.*?)\]", text, re.S | re.M).group(1)
    return {re.split(r"[<>=!~ \[]", d.strip().strip('"'))[0] for d in deps.split(",") if d.strip()}


def _third_party_imports():
    found = {}
    for d, _, files in os.walk(PKG_DIR):
        for f in files:
            if not f.endswith(".py"):
                continue
            path = os.path.join(d, f)
            for node in ast.walk(ast.parse(open(path).read())):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for n in names:
                    top = n.split(".")[0]
                    if top != "edgepower" and top not in sys.stdlib_module_names:
                        found.setdefault(top, set()).add(os.path.relpath(path, PKG_DIR))
    return found


def test_every_import_is_declared_or_optional():
    declared = _declared()
    assert {"numpy", "pandas", "matplotlib", "tqdm"} <= declared  # the CLI and Report.write need them
    missing = {k: sorted(v) for k, v in _third_party_imports().items() if k not in declared | OPTIONAL}
    assert missing == {}


def test_the_check_sees_imports():
    found = _third_party_imports()
    assert "numpy" in found and "torch" in found and "tqdm" in found
