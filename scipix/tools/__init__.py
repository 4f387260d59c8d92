"""The command-line tools of ``python -m scipix``: demo, bench, soak.

Not part of the library's API: the library is ``scipix.optimize``.  They
live here, apart from it, so that the library package holds only the library.
"""
