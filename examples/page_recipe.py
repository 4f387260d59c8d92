"""The work the scaling recipes distribute: page files -> ``preprocess_batch``
-> an int8 ``QuantizedLinear`` classifier (and the same layer in ONNX Runtime
when it is installed).

``dask_pages.py`` and ``ray_pages.py`` run :func:`classify_pages` on workers;
it is imported there by name, so each worker process keeps one
:class:`PageClassifier` (the model file mapped once per process, its pages
shared by every process on the machine through the page cache).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import numpy as np

from scipix.optimize import memory, parallel, quantize
from scipix.optimize.config import kernel_threads

INPUT_SHAPE = (32, 32)
CLASSES = 10
WEIGHT_FILE = "classifier.npy"
ONNX_FILE = "classifier.onnx"


def make_pages(folder: str | os.PathLike[str], count: int, seed: int = 0) -> list[str]:
    """Write ``count`` synthetic RGBA pages of varied sizes as ``.npy`` files.

    Returns
    -------
    list of str
        The file paths, in order.
    """
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        height, width = rng.integers(96, 256, size=2)
        page = np.full((height, width, 4), 255, np.uint8)
        for _ in range(8):  # dark "text" blocks on white paper
            top, left = rng.integers(0, height - 8), rng.integers(0, width - 16)
            page[top:top + 8, left:left + 16, :3] = rng.integers(0, 80)
        path = Path(folder) / f"page_{index:05d}.npy"
        np.save(path, page)
        paths.append(str(path))
    return paths


def make_model(folder: str | os.PathLike[str], seed: int = 1) -> str:
    """Write the classifier's float32 weights, (CLASSES, 32 * 32), and its
    ONNX form when ``onnx`` is installed; returns ``folder``."""
    rng = np.random.default_rng(seed)
    weight = rng.standard_normal((CLASSES, INPUT_SHAPE[0] * INPUT_SHAPE[1])).astype(np.float32)
    np.save(Path(folder) / WEIGHT_FILE, weight)
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        return str(folder)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "weight_t"], ["logits"])], "page_classifier",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, weight.shape[1]])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, CLASSES])],
        [numpy_helper.from_array(np.ascontiguousarray(weight.T), "weight_t")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # readable by ONNX Runtime releases back to 1.10
    onnx.save(model, str(Path(folder) / ONNX_FILE))
    return str(folder)


ModelLike = Union[str, memory.MmapModel]


def _folder(model: ModelLike) -> str:
    """The folder of ``model``: a folder ``make_model`` wrote, or its weight
    file mapped (an ``MmapModel``, e.g. one that came through ``ray.put``)."""
    return str(Path(model.path).parent) if isinstance(model, memory.MmapModel) else model


class PageClassifier:
    """The model of one process: the weight file mapped with ``MmapModel``,
    quantized into a ``QuantizedLinear``, and an ONNX Runtime session when
    ``onnxruntime`` and the ONNX file are there.

    Calling it on page paths returns, for each page, ``(path, scipix_logits,
    onnx_logits or None)`` with float32 logits of shape (CLASSES,).  Ray
    Data's ``map_batches`` and Ray actors use the class directly.

    Parameters
    ----------
    model : str or MmapModel
        The folder :func:`make_model` wrote, or its weight file already
        mapped (a pickled ``MmapModel`` maps its file again where it lands).
    """

    def __init__(self, model: ModelLike) -> None:
        folder = Path(_folder(model))
        self.model = (model if isinstance(model, memory.MmapModel)
                      else memory.MmapModel.from_file(folder / WEIGHT_FILE))
        self.layer = quantize.QuantizedLinear(self.model.tensor(Path(WEIGHT_FILE).stem),
                                              reduce_range=True)
        self.session = _onnx_session(folder / ONNX_FILE)

    def logits(self, pages: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """Logits of a list of RGBA pages from both engines, (N, CLASSES) float32."""
        batch = parallel.preprocess_batch(pages, INPUT_SHAPE).reshape(len(pages), -1)
        onnx_logits = None
        if self.session is not None:
            onnx_logits = self.session.run(None, {"x": batch})[0]
        return self.layer(batch), onnx_logits

    def __call__(self, paths: list[str]) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
        if not paths:
            return []
        ours, theirs = self.logits([np.load(path) for path in paths])
        return [(path, ours[i], None if theirs is None else theirs[i])
                for i, path in enumerate(paths)]


def _onnx_session(path: Path) -> object | None:
    try:
        import onnxruntime
    except ImportError:
        return None
    if not path.exists():
        return None
    options = onnxruntime.SessionOptions()
    # The same thread rule as scipix's kernels: the recipe's parallelism is
    # its workers, each engine adds at most the threads scipix would.
    options.intra_op_num_threads = kernel_threads()
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


_classifiers: dict[str, PageClassifier] = {}
LOADS = []  # (pid, model folder) of every PageClassifier this process made


def classifier(model: ModelLike) -> PageClassifier:
    """This process's :class:`PageClassifier` for ``model``'s folder, made on first use."""
    folder = _folder(model)
    if folder not in _classifiers:
        _classifiers[folder] = PageClassifier(model)
        LOADS.append((os.getpid(), folder))
    return _classifiers[folder]


def classify_pages(paths: list[str], model: ModelLike) -> list[dict[str, object]]:
    """Classify a partition of page files with this process's model of
    ``model`` (a folder, or its weight file as an ``MmapModel``).

    Returns
    -------
    list of dict
        Per page: ``path``, ``logits`` (scipix, float32 (CLASSES,)),
        ``onnx_logits`` (or None), and where it ran: ``pid``, ``loads``
        (times this process has loaded this model) and ``threads`` (the
        OpenMP threads scipix's kernels used).
    """
    results = classifier(model)(list(paths))
    where = {"pid": os.getpid(), "loads": LOADS.count((os.getpid(), _folder(model))),
             "threads": kernel_threads()}
    return [dict(path=path, logits=ours, onnx_logits=theirs, **where)
            for path, ours, theirs in results]


def same_results(local: list[dict[str, object]], remote: list[dict[str, object]]) -> bool:
    """True when both runs gave the same pages with bit-identical logits."""
    def key(result: dict[str, object]) -> str:
        return str(result["path"])

    pairs = list(zip(sorted(local, key=key), sorted(remote, key=key)))
    return len(local) == len(remote) and all(
        a["path"] == b["path"] and np.array_equal(a["logits"], b["logits"])
        and (a["onnx_logits"] is None) == (b["onnx_logits"] is None)
        and (a["onnx_logits"] is None or np.array_equal(a["onnx_logits"], b["onnx_logits"]))
        for a, b in pairs)
