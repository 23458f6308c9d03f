"""Packaging: licence, metadata, the README as PyPI shows it (every link absolute and pointing at
a file of the repository), links inside the repository, the Linux-only guard of the build, and
the API reference built from the docstrings (Sphinx, warnings as errors)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import subprocess_env

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LINK = re.compile(r"\]\(([^)\s]+)\)")

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11 (the 3.8 check runs other tests)


def _pyproject():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def test_licence_and_metadata():
    text = open(os.path.join(ROOT, "LICENSE")).read()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    proj = _pyproject()["project"]
    assert proj["license"] == {"text": "Apache-2.0"}
    assert "License :: OSI Approved :: Apache Software License" in proj["classifiers"]
    assert proj["requires-python"] == ">=3.8"
    assert "Programming Language :: Python :: 3.8" in proj["classifiers"]
    assert "Operating System :: POSIX :: Linux" in proj["classifiers"]
    assert set(proj["urls"]) >= {"Source", "Documentation", "Issues"}


def _repo_links(path):
    """Relative links of a Markdown file (no URLs, no anchors-only), resolved in the repository."""
    out = []
    for target in LINK.findall(open(path).read()):
        if re.match(r"^(https?:|mailto:|#)", target):
            continue
        out.append(os.path.normpath(os.path.join(os.path.dirname(path), target.split("#")[0])))
    return out


def test_links_inside_the_repository_resolve():
    files = [os.path.join(ROOT, "README.md")] + [os.path.join(ROOT, "docs", f)
                                                 for f in os.listdir(os.path.join(ROOT, "docs")) if f.endswith(".md")]
    missing = [(os.path.relpath(f, ROOT), os.path.relpath(t, ROOT)) for f in files for t in _repo_links(f)
               if not os.path.exists(t)]
    assert missing == []
    # The architecture page is in the repository and the README links it.
    assert os.path.join(ROOT, "docs", "architecture.md") in _repo_links(os.path.join(ROOT, "README.md"))


def test_readme_on_pypi_has_only_absolute_links_into_the_repository():
    pytest.importorskip("hatch_fancy_pypi_readme")
    r = subprocess.run([sys.executable, "-m", "hatch_fancy_pypi_readme", os.path.join(ROOT, "pyproject.toml")],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    base = _pyproject()["project"]["urls"]["Source"].rstrip("/") + "/blob/main/"
    links = LINK.findall(r.stdout)
    assert links and all(re.match(r"^(https?:|mailto:|#)", t) for t in links), links
    into_repo = [t[len(base):] for t in links if t.startswith(base)]
    assert "docs/architecture.md" in into_repo and "LICENSE" in into_repo
    assert [t for t in into_repo if not os.path.exists(os.path.join(ROOT, t.split("#")[0]))] == []


@pytest.mark.skipif(shutil.which("cmake") is None, reason="needs cmake")
def test_cmake_refuses_a_non_linux_target_with_the_reason(tmp_path):
    r = subprocess.run(["cmake", "-S", ROOT, "-B", str(tmp_path / "b"), "-DCMAKE_SYSTEM_NAME=Darwin",
                        "-DEDGEPOWER_BUILD_PYTHON=OFF"], capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    err = " ".join(r.stderr.split())
    assert "edgepower builds on Linux only" in err and "the target system is Darwin" in err


def test_api_reference_builds_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("torch")  # the profiler's modules import it
    r = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                        os.path.join(ROOT, "docs", "api"), str(tmp_path / "html")],
                       capture_output=True, text=True, timeout=1200, env=subprocess_env())
    assert r.returncode == 0, r.stderr[-4000:]
    html = {f: open(tmp_path / "html" / f, encoding="utf-8").read() for f in ("monitoring.html", "report.html",
                                                                             "export.html", "profiling.html")}
    assert "PowerMonitor" in html["monitoring.html"] and "window" in html["monitoring.html"]
    assert "to_perfetto" in html["report.html"] and "log_mlflow" in html["report.html"]
    assert "trace_events" in html["export.html"] and "MonitorCollector" in html["export.html"]
    assert "LayerProfiler" in html["profiling.html"]
