"""Zero-copy pixels of a Pillow image, through the Arrow C data interface.

``np.asarray(image)`` copies the pixels out through ``Image.tobytes()``: a
few milliseconds for a photograph, more than resizing it.  Pillow 11.2 and
later export an image's memory as an Arrow array (``__arrow_c_array__``)
without copying when its rows are one block; this module reads that export
(the Arrow C data interface's two structs, a public ABI) into a read-only
NumPy view.  RGB images are stored 4 bytes a pixel in Pillow's memory: the
view is (height, width, 4), the fourth byte padding.
"""
from __future__ import annotations

import ctypes
from typing import Any, Optional

import numpy as np
from numpy.typing import NDArray

__all__ = ["pillow_pixels"]


class _ArrowSchema(ctypes.Structure):
    _fields_ = [("format", ctypes.c_char_p), ("name", ctypes.c_char_p),
                ("metadata", ctypes.c_char_p), ("flags", ctypes.c_int64),
                ("n_children", ctypes.c_int64), ("children", ctypes.c_void_p),
                ("dictionary", ctypes.c_void_p), ("release", ctypes.c_void_p),
                ("private_data", ctypes.c_void_p)]


class _ArrowArray(ctypes.Structure):
    pass


_ArrowArray._fields_ = [("length", ctypes.c_int64), ("null_count", ctypes.c_int64),
                        ("offset", ctypes.c_int64), ("n_buffers", ctypes.c_int64),
                        ("n_children", ctypes.c_int64),
                        ("buffers", ctypes.POINTER(ctypes.c_void_p)),
                        ("children", ctypes.POINTER(ctypes.POINTER(_ArrowArray))),
                        ("dictionary", ctypes.c_void_p), ("release", ctypes.c_void_p),
                        ("private_data", ctypes.c_void_p)]

_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]

# Pillow modes exported as one byte per value: bytes a pixel takes in its
# memory, and the Arrow format of the export.
_MODES = {"L": (1, b"C"), "RGB": (4, b"+w:4"), "RGBA": (4, b"+w:4")}


class _View:
    """Holds the export (released when the capsules go) while the view lives."""

    def __init__(self, capsules: tuple[Any, Any], pointer: int,
                 shape: tuple[int, ...]) -> None:
        self.capsules = capsules
        self.__array_interface__ = {"data": (pointer, True), "shape": shape,
                                    "typestr": "|u1", "version": 3}


def pillow_pixels(image: Any) -> Optional[NDArray[np.uint8]]:
    """A read-only view of ``image``'s pixels, or None where Pillow cannot
    export them without copying (Pillow before 11.2, rows in several
    blocks, other modes).

    Parameters
    ----------
    image : PIL.Image.Image
        Mode ``"L"``, ``"RGB"`` or ``"RGBA"``.

    Returns
    -------
    ndarray of uint8, shape (height, width) for L, (height, width, 4) for
    RGB (the fourth byte padding) and RGBA; or None.
    """
    layout = _MODES.get(image.mode)
    export = getattr(image, "__arrow_c_array__", None)
    if layout is None or export is None:
        return None
    try:
        capsules = export()
    except ValueError:  # "Image rows are not contiguous in memory"
        return None
    schema = _ArrowSchema.from_address(_capsule_pointer(capsules[0], b"arrow_schema"))
    array = _ArrowArray.from_address(_capsule_pointer(capsules[1], b"arrow_array"))
    width, height = image.size
    per_pixel, form = layout
    if schema.format != form or array.length != width * height:
        return None
    values = array if per_pixel == 1 else array.children[0].contents
    if values.n_buffers != 2 or values.length < width * height * per_pixel:
        return None
    pointer = values.buffers[1] + values.offset + array.offset * per_pixel
    shape = (height, width) if per_pixel == 1 else (height, width, per_pixel)
    return np.asarray(_View(capsules, pointer, shape))
