"""scipix.runtime serving a model: requests one by one against batched.

A model built here with ``onnx.helper`` (two 64 x 64 matrix products with a
ReLU between, per row: the cost of a batch grows with its rows, and each
run has a fixed overhead, as a small classifier's), 512 requests of one
row each: ``Model.run`` per request against ``BatchedModel`` (pool
sessions, batches of up to 32).  Self-contained (public scipix API only);
skipped where ``scipix.runtime``, onnx or onnxruntime is missing.
"""
import concurrent.futures
import os
import tempfile

import numpy as np

from ._api import public

FEATURES = 64
REQUESTS = 512


def _model_file(directory):
    from onnx import TensorProto, helper, numpy_helper, save

    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.standard_normal((FEATURES, FEATURES))
                                       .astype(np.float32), name) for name in ("w1", "w2")]
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"]),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("MatMul", ["r", "w2"], ["y"])]
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", FEATURES])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", FEATURES])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = os.path.join(directory, "mlp.onnx")
    save(model, path)
    return path


class Serving:
    """512 single-row requests from 8 threads: per request, or batched."""

    params = (["per_request", "batched"],)
    param_names = ["mode"]
    timeout = 120

    def setup(self, mode):
        try:
            import onnx  # noqa: F401
            import onnxruntime  # noqa: F401
        except ImportError:
            raise NotImplementedError("needs onnx and onnxruntime")
        runtime = public("scipix.runtime")
        config = public("scipix.optimize.batch.BatchConfig")(max_batch_size=32, max_wait_ms=1)
        self.directory = tempfile.mkdtemp()
        self.model = runtime.Model(_model_file(self.directory), execution="pool")
        self.batched = runtime.BatchedModel(self.model, config=config)
        self.rows = [np.full(FEATURES, i / REQUESTS, np.float32) for i in range(REQUESTS)]
        self.callers = concurrent.futures.ThreadPoolExecutor(8)
        if mode == "per_request":
            self.run = lambda: list(self.callers.map(
                lambda row: self.model.run(row[np.newaxis]), self.rows))
        else:
            self.run = lambda: list(self.callers.map(
                lambda rows: self.batched(rows), [self.rows[k::8] for k in range(8)]))
        self.run()

    def teardown(self, mode):
        self.callers.shutdown()
        self.batched.close()
        self.model.close()
        os.remove(os.path.join(self.directory, "mlp.onnx"))
        os.rmdir(self.directory)

    def time_512_requests(self, mode):
        self.run()

    def track_mean_batch_size(self, mode):
        self.run()
        stats = self.batched.stats().batching
        return stats.mean_batch_size if mode == "batched" else 1.0
