"""Sphinx configuration of edgepower's API reference (docs/api), generated from the docstrings.

Build it with ``python -m sphinx -W -b html docs/api build/docs-api``
(tests/python/test_distribution.py does, warnings as errors). edgepower must be importable
(installed, or python/ on PYTHONPATH with the native module built); torch is needed for
edgepower.profile.
"""
import os
import sys

import edgepower

project = "edgepower"
author = "The edgepower authors"
copyright = "the edgepower authors, Apache-2.0"
release = version = edgepower.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = True  # "Attributes" as fields: no second description of NamedTuple fields
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}
# The native module's classes document themselves through pybind11 signatures.
autodoc_mock_imports = []
html_theme = "alabaster"
html_title = f"edgepower {release} API"
exclude_patterns = ["_build"]
suppress_warnings = ["autodoc.import_object"] if os.environ.get("EDGEPOWER_DOCS_LENIENT") else []
sys.setrecursionlimit(5000)
