"""Sphinx configuration: guides, design notes, benchmark pages drawn from the
committed results files (``_ext/bench_figures.py``), the changelog and the
API reference from the public modules' numpydoc docstrings.  Build with
``python -m sphinx -W -b html docs OUTDIR`` where scipix and the ``docs``
extra are installed; ``-b doctest`` runs the pages' ``>>>`` examples."""
import os
import sys

import scipix

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "_ext"))

project = "scipix"
copyright = "2026, The scipix authors"
version = release = scipix.__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.doctest", "numpydoc", "bench_figures"]
# Members are listed by automodule; numpydoc's own member tables would list
# them twice.
numpydoc_show_class_members = False
autodoc_default_options = {"members": True, "member-order": "bysource"}
# The signatures carry the annotations; repeated in the text they add noise.
autodoc_typehints = "none"
# Charts are drawn at build time beside their pages; results files are read
# by the benchmark pages, not pages themselves.
exclude_patterns = ["_build", "**/_charts", "benchmarks/results"]
html_theme = "alabaster"
