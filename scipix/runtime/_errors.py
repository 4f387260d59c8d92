"""What the runtime raises: each error names the model, and the input when one is at fault."""
from __future__ import annotations

__all__ = ["ModelLoadError", "InputError", "ModelError", "RuntimeClosed"]


class ModelLoadError(ValueError):
    """The file is not an ONNX model ONNX Runtime can load (a missing file
    raises ``FileNotFoundError`` instead)."""


class InputError(ValueError):
    """An input the model refuses: unknown or missing name, wrong dtype,
    rank or fixed dimension.  Raised before the model runs."""


class ModelError(RuntimeError):
    """ONNX Runtime failed while running the model; the message names the
    model and the shapes it was given, ``__cause__`` is ONNX Runtime's error."""


class RuntimeClosed(RuntimeError):
    """The model or batcher was closed before the call could run."""
