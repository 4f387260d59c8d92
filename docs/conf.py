"""Sphinx configuration: the API reference, from the public modules' numpydoc
docstrings.  Build with ``python -m sphinx -W -b html docs OUTDIR`` in an
environment where scipix is installed."""
import scipix

project = "scipix"
copyright = "2026, The scipix authors"
version = release = scipix.__version__

extensions = ["sphinx.ext.autodoc", "numpydoc"]
# Members are listed by automodule; numpydoc's own member tables would list
# them twice.
numpydoc_show_class_members = False
autodoc_default_options = {"members": True, "member-order": "bysource"}
# The signatures carry the annotations; repeated in the text they add noise.
autodoc_typehints = "none"
exclude_patterns = ["_build"]
html_theme = "alabaster"
