"""The one door from the suite into scipix: public names, looked up late.

asv runs today's suite against every commit it measures.  A name looked up
at import would fail the whole module at a commit that predates it; looked
up in ``setup``, it skips only the benchmarks that need it (asv's
convention: ``NotImplementedError`` in ``setup`` means "skipped").
"""
import importlib


def public(name):
    """The object at the dotted public path ``name``, e.g. ``"scipix.optimize.simd"``.

    Parameters
    ----------
    name : str
        A dotted path under ``scipix`` whose parts do not start with ``_``,
        outside ``scipix.tools`` (the command-line tools, not the library).

    Returns
    -------
    object
        The module, class or function.

    Raises
    ------
    ValueError
        ``name`` is outside scipix's library or names a private part.
    NotImplementedError
        The scipix under test has no such name (an older commit).
    """
    parts = name.split(".")
    if parts[0] != "scipix" or parts[1:2] == ["tools"] or \
            any(part.startswith("_") for part in parts):
        raise ValueError(f"the asv suite uses scipix's public API only, not {name!r}")
    found = importlib.import_module("scipix")
    for depth, part in enumerate(parts[1:], start=2):
        try:
            found = getattr(found, part)
        except AttributeError:
            try:
                found = importlib.import_module(".".join(parts[:depth]))
            except ImportError:
                raise NotImplementedError(f"{name} does not exist in this scipix") from None
    return found


def set_opt_level(level_name):
    """Set the optimization level called ``level_name`` (``"NONE"``, ``"SIMD"``, ...)."""
    optimize = public("scipix.optimize")
    optimize.set_opt_level(optimize.OptLevel[level_name])
