"""What ``python -m scipix bench --json FILE`` writes: every table of the run,
each with the load average it ended under, and the machine it ran on.

The file is the benchmark pages' only source (``docs/_ext/bench_figures.py``
draws their tables and charts from it), so it holds everything a figure
needs: measured seconds, never ratios (those are derived), and the machine
(CPU model, variant, threads, load average, library versions).  Its layout
is ``SCHEMA``; ``load`` checks a file against it.
"""
import datetime
import importlib.metadata
import json
import os
import platform

SCHEMA = "scipix-bench/1"
CHARTS = ("speedup", "scaling", "stages")

# Distributions whose versions a figure depends on: scipix's own build and
# the peers it is compared with.
_LIBRARIES = ("numpy", "opencv-python-headless", "opencv-python", "torch", "onnxruntime",
              "Pillow", "transformers", "rapidocr-onnxruntime", "threadpoolctl")


def _load_average():
    return [round(value, 2) for value in os.getloadavg()]


def machine():
    """The machine a run is on, as the JSON file's ``machine`` object."""
    import scipix
    from .. import optimize
    libraries = {"scipix": scipix.__version__}
    for name in _LIBRARIES:
        try:
            libraries[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return {
        "cpu": optimize.cpu.cpu_name(),
        "architecture": platform.machine(),
        "logical_cpus": len(os.sched_getaffinity(0)),
        "variant": optimize.active_variant(),
        "threads": optimize.get_thread_count(),
        "load_average": _load_average(),
        "python": platform.python_version(),
        "libraries": libraries,
    }


class Table:
    """One table of a run: rows of key cells, times in seconds and other values.

    Parameters
    ----------
    name : str
        The table's name, as ``--kernels`` selects it (``"kernels"``,
        ``"scaling"``, ...).
    title : str
        What was measured, and how (one sentence).
    keys : list of str
        The columns naming a row (kernel, size, threads, ...).
    times : list of str
        The contenders, each a column of median seconds per call (``None``
        where the contender is not installed or does not apply).
    ours : str or None
        The contender the ratios are taken against (scipix's), one of
        ``times``.
    values : list of str
        Other measured columns (pages/s, error rate, ...), each as named.
    chart : {"speedup", "scaling", "stages"} or None
        The chart the docs draw from it: speed-up of ``ours`` against each
        other contender per row; gain over the first row against threads;
        time per stage.
    """

    def __init__(self, name, title, keys, times, ours=None, values=(), chart=None):
        if ours is not None and ours not in times:
            raise ValueError(f"ours={ours!r} is not one of times {times}")
        if chart is not None and chart not in CHARTS:
            raise ValueError(f"chart={chart!r} is not one of {CHARTS}")
        self.name, self.title, self.chart, self.ours = name, title, chart, ours
        self.keys, self.times, self.values = list(keys), list(times), list(values)
        self.rows = []
        self.load_average = None

    def add(self, **cells):
        """Add a row; every column must be given (a time may be ``None``)."""
        columns = self.keys + self.times + self.values
        if sorted(cells) != sorted(columns):
            raise ValueError(f"table {self.name!r}: row has {sorted(cells)}, "
                             f"columns are {sorted(columns)}")
        self.rows.append({column: cells[column] for column in columns})
        self.load_average = _load_average()

    def as_dict(self):
        return {"name": self.name, "title": self.title, "keys": self.keys,
                "times": self.times, "ours": self.ours, "values": self.values,
                "chart": self.chart, "load_average": self.load_average, "rows": self.rows}


class BenchRecord:
    """The tables of one ``python -m scipix bench`` run, and its machine.

    Parameters
    ----------
    argv : list of str
        The command's arguments, kept so a figure can be made again.
    """

    def __init__(self, argv):
        self.command = "python -m scipix " + " ".join(argv)
        self.started = _now()
        self.machine = machine()
        self.tables = []

    def table(self, *args, **kwargs):
        """A new :class:`Table` (same parameters), kept in this record."""
        table = Table(*args, **kwargs)
        self.tables.append(table)
        return table

    def as_dict(self):
        return {"schema": SCHEMA, "command": self.command, "started": self.started,
                "finished": _now(), "machine": self.machine,
                "load_average_end": _load_average(),
                "tables": [table.as_dict() for table in self.tables if table.rows]}

    def write(self, path):
        with open(path, "w") as file:
            json.dump(self.as_dict(), file, indent=1)
            file.write("\n")


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


_MACHINE_KEYS = {"cpu", "variant", "threads", "load_average", "libraries"}
_TABLE_KEYS = {"name", "title", "keys", "times", "ours", "values", "chart", "load_average",
               "rows"}


def load(path):
    """A results file, checked against ``SCHEMA``.

    Returns
    -------
    dict
        As written by :meth:`BenchRecord.write`.

    Raises
    ------
    ValueError
        Naming the file and what is missing or wrong.
    """
    with open(path) as file:
        data = json.load(file)
    if data.get("schema") != SCHEMA:
        raise ValueError(f"{path}: schema {data.get('schema')!r}, expected {SCHEMA!r}")
    missing = _MACHINE_KEYS - set(data.get("machine", {}))
    if missing:
        raise ValueError(f"{path}: machine lacks {sorted(missing)}")
    for table in data.get("tables", []):
        missing = _TABLE_KEYS - set(table)
        if missing:
            raise ValueError(f"{path}: table {table.get('name')!r} lacks {sorted(missing)}")
        columns = table["keys"] + table["times"] + table["values"]
        for row in table["rows"]:
            if sorted(row) != sorted(columns):
                raise ValueError(f"{path}: table {table['name']!r} has a row {row} "
                                 f"that is not {columns}")
    return data

