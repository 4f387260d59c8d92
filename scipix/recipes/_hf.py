"""Recipes of Hugging Face transformers image processors.

What ``processor(images=..., return_tensors="np")["pixel_values"]`` computes
in transformers 5's Pillow backend (``...ImageProcessorPil``,
``image_processing_backends.PilBackend``), step for step: the sizes
(``image_transforms.get_resize_output_image_size``: the long side
truncated), Pillow's resize, ``center_crop`` (floor offsets, zero padding
ceil before), rescale in float64 cast to float32, then ``(x - mean) / std``
in float32.  The model-specific rules (ConvNeXt, LeViT, PoolFormer, DPT,
MobileViT, EfficientNet, Donut, Nougat) follow their
``image_processing_pil_<model>.py``.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

import numpy as np
from numpy.typing import NDArray

from ..optimize.parallel._pillow_geometry import hf_crop_offset, shortest_edge_size
from ._recipe import Recipe, Resize, Window, pad_offset, value_table

__all__ = ["from_hf"]

# The processors whose steps are the backend's plain ones: resize, centre
# crop, rescale, normalize.
_PLAIN = {"CLIP", "Bit", "DeiT", "Beit", "Siglip", "Blip", "ViT"}
_SPECIAL = {"ConvNext", "Levit", "PoolFormer", "DPT", "MobileViT", "EfficientNet", "Donut",
            "Nougat"}
_OPTIONS = ("do_resize", "size", "resample", "do_center_crop", "crop_size", "do_rescale",
            "rescale_factor", "do_normalize", "image_mean", "image_std", "do_convert_rgb",
            "do_pad", "do_thumbnail", "do_align_long_axis", "do_crop_margin",
            "do_flip_channel_order", "crop_pct", "keep_aspect_ratio", "ensure_multiple_of",
            "size_divisor", "include_top", "rescale_offset", "do_reduce_labels")


def _model(name: str) -> str:
    """"CLIPImageProcessorPil" -> "CLIP"; a ValueError for another processor."""
    base = name.removesuffix("Pil").removesuffix("Fast")
    model = base.removesuffix("ImageProcessor")
    if model == base or model not in _PLAIN | _SPECIAL:
        raise ValueError(f"processor {name!r} has no scipix recipe; supported: "
                         f"{sorted(m + 'ImageProcessor' for m in _PLAIN | _SPECIAL)}")
    return model


def _options(processor: Any) -> tuple[str, dict[str, Any], str]:
    """(model, options, backend) of a processor object or its config dict."""
    if isinstance(processor, Mapping):
        config = dict(processor)
        name = config.get("image_processor_type")
        if not isinstance(name, str):
            raise ValueError("a processor config dict needs its 'image_processor_type'")
        backend = "pil" if config.get("backend", "pil") == "pil" else "torchvision"
    else:
        name = type(processor).__name__
        config = {key: getattr(processor, key) for key in _OPTIONS if hasattr(processor, key)}
        backend = getattr(processor, "backend", "pil")
    options = {key: config.get(key) for key in _OPTIONS}
    for key in ("size", "crop_size"):
        value = options[key]
        if key == "crop_size" and isinstance(value, int):  # as get_size_dict reads it
            options[key] = {"height": value, "width": value}
        elif isinstance(value, int):
            # A bare number means a square or a shortest edge depending on the
            # processor class: the processor object itself has the dict.
            raise ValueError(f"{key} must be a dict such as {{'shortest_edge': 224}} or "
                             f"{{'height': 224, 'width': 224}}, got {value!r}; pass the "
                             f"processor object to read it as transformers does")
        elif value is not None:  # a dict, or transformers' SizeDict
            options[key] = {k: v for k, v in dict(value).items() if v is not None}
    return _model(name), options, "pil" if backend == "pil" else "torchvision"


def shortest_edge(size: int) -> Callable[[int, int], tuple[int, int]]:
    """``get_resize_output_image_size(default_to_square=False)``: the short
    side to ``size``, the long side ``int(size * long / short)``."""
    return lambda height, width: shortest_edge_size(height, width, size)


def fixed(height: int, width: int) -> Callable[[int, int], tuple[int, int]]:
    return lambda rows, cols: (height, width)


def _sized(size: dict[str, int]) -> Callable[[int, int], tuple[int, int]]:
    if set(size) == {"shortest_edge"}:
        return shortest_edge(size["shortest_edge"])
    if set(size) == {"height", "width"}:
        return fixed(size["height"], size["width"])
    raise ValueError(f"size {size} is not reproduced (shortest_edge or height and width)")


def _filter(options: dict[str, Any]) -> str:
    # PilBackend: no resample means BILINEAR.
    resample = options["resample"]
    return "bilinear" if resample is None else _resample_name(int(resample))


def _resample_name(number: int) -> str:
    names = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}
    if number not in names:
        raise ValueError(f"resample {number} is not a Pillow filter this recipe reproduces")
    return names[number]


def _per_channel(value: Any, name: str) -> NDArray[np.float32]:
    values = np.asarray(value, np.float32).reshape(-1)
    if values.size == 1:
        values = np.repeat(values, 3)
    if values.size != 3:
        raise ValueError(f"{name} must have 1 or 3 values for RGB, got {value!r}")
    return values


def _rescale(factor: float, offset: bool = False) -> Callable[[NDArray[Any]], NDArray[Any]]:
    # image_transforms.rescale: float64 product cast to float32.
    def step(values: NDArray[Any]) -> NDArray[Any]:
        scaled = (values.astype(np.float64) * factor).astype(np.float32)
        return scaled - np.float32(1) if offset else scaled
    return step


def _normalize(mean: Any, std: Any) -> Callable[[NDArray[Any]], NDArray[Any]]:
    # image_transforms.normalize: float32 (x - mean) / std, mean and std cast.
    mean32, std32 = _per_channel(mean, "image_mean"), _per_channel(std, "image_std")

    def step(values: NDArray[Any]) -> NDArray[Any]:
        values = values.astype(np.float32) if values.dtype != np.float32 else values
        return (values - mean32[:, None]) / std32[:, None]
    return step


def _values(options: dict[str, Any], normalize: bool = True) -> list[Callable[..., Any]]:
    steps = []
    if options["do_rescale"]:
        steps.append(_rescale(options["rescale_factor"], bool(options["rescale_offset"])))
    if normalize and options["do_normalize"]:
        steps.append(_normalize(options["image_mean"], options["image_std"]))
    if not steps:
        raise ValueError("a recipe without do_rescale or do_normalize would return uint8; "
                         "not reproduced")
    return steps


def _crop(options: dict[str, Any]) -> Optional[Window]:
    if not options["do_center_crop"]:
        return None
    crop = options["crop_size"]
    return Window(crop["height"], crop["width"], hf_crop_offset)


def _refuse(options: dict[str, Any], model: str, *names: str) -> None:
    """A ValueError for an option the recipe would silently ignore."""
    for name in names:
        if options.get(name):
            raise ValueError(f"{model}ImageProcessor option {name}={options[name]!r} is not "
                             f"reproduced by scipix's recipe")


def _convert(options: dict[str, Any]) -> Callable[[Any], Any]:
    """PilBackend.process_image: ``convert_to_rgb`` (alpha over white) when
    do_convert_rgb, else the image as it is."""
    if not options["do_convert_rgb"]:
        return lambda image: image

    def convert(image: Any) -> Any:
        from PIL import Image  # noqa: PLC0415
        if "A" in image.getbands() or image.info.get("transparency") is not None:
            image = image.convert("RGBA")
            white = Image.new("RGBA", image.size, (255, 255, 255, 255))
            return Image.alpha_composite(white, image).convert("RGB")
        return image.convert("RGB")
    return convert


def _thumbnail(height: int, width: int) -> Callable[[int, int], tuple[int, int]]:
    """Donut / Nougat ``thumbnail``: fit inside (height, width), the other
    side truncated; a fitting image keeps its size."""
    def rule(rows: int, cols: int) -> tuple[int, int]:
        h, w = min(rows, height), min(cols, width)
        if (h, w) == (rows, cols):
            return rows, cols
        if rows > cols:
            w = int(cols * h / rows)
        elif cols > rows:
            h = int(rows * w / cols)
        return h, w
    return rule


def _dpt_size(options: dict[str, Any]) -> Callable[[int, int], tuple[int, int]]:
    size, multiple = options["size"], options["ensure_multiple_of"] or 1

    def constrain(value: float) -> int:
        return int(round(value / multiple) * multiple)

    def rule(rows: int, cols: int) -> tuple[int, int]:
        scale_h, scale_w = size["height"] / rows, size["width"] / cols
        if options["keep_aspect_ratio"]:
            if abs(1 - scale_w) < abs(1 - scale_h):
                scale_h = scale_w
            else:
                scale_w = scale_h
        return constrain(scale_h * rows), constrain(scale_w * cols)
    return rule


def _crop_margin(pixels: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Nougat's ``crop_margin``: the bounding box of the pixels darker than
    200 on the gray page stretched to 0..255."""
    from PIL import Image  # noqa: PLC0415
    gray = np.asarray(Image.fromarray(pixels).convert("L")).astype(np.uint8)
    top, bottom = int(gray.max()), int(gray.min())
    if top == bottom:
        return pixels
    stretched = (gray - bottom) / (top - bottom) * 255
    ys, xs = np.nonzero(stretched < 200)
    return np.ascontiguousarray(pixels[ys.min():ys.max() + 1, xs.min():xs.max() + 1])


def from_hf(processor: Any) -> Recipe:
    """The recipe of a Hugging Face image processor.

    Parameters
    ----------
    processor : transformers image processor, or its config dict
        ``CLIPImageProcessor()`` (or ``...Pil``), or ``processor.to_dict()``;
        one of CLIP, BiT, DeiT, BEiT, SigLIP, BLIP, ViT, ConvNeXt, LeViT,
        PoolFormer, DPT, MobileViT, EfficientNet, Donut, Nougat, with any
        options their constructors take that change the tensor.

    Returns
    -------
    Recipe
        ``recipe(images)`` gives the processor's ``pixel_values``: for the
        Pillow backend the same pixels bit for bit and the same float32
        values; for the torchvision backend the resizes follow torch's
        antialiased interpolation (``reference="torch"``).

    Raises
    ------
    ValueError
        A processor or an option the recipe does not reproduce (it never
        returns a different tensor silently).
    """
    model, options, backend = _options(processor)
    reference = "pillow" if backend == "pil" else "torch"
    _refuse(options, model, "do_align_long_axis")
    if model != "MobileViT":
        _refuse(options, model, "do_flip_channel_order")
    convert = _convert(options)
    filter = _filter(options)
    size = options["size"] or {}
    resizes: list[Resize] = []
    window = _crop(options)
    values = _values(options)
    channels = (0, 1, 2)
    prepare = None
    if model in _PLAIN:
        if options["do_resize"]:
            resizes.append(Resize(_sized(size), filter))
    elif model == "ConvNext":
        if options["do_resize"]:
            edge = size["shortest_edge"]
            if edge < 384:
                resizes.append(Resize(shortest_edge(int(edge / options["crop_pct"])), filter))
                if window is not None:
                    raise ValueError("ConvNextImageProcessor with do_center_crop after its "
                                     "crop_pct crop is not reproduced")
                window = Window(edge, edge, hf_crop_offset)
            else:
                resizes.append(Resize(fixed(edge, edge), filter))
    elif model == "Levit":
        if options["do_resize"]:
            rule = (shortest_edge(int((256 / 224) * size["shortest_edge"]))
                    if "shortest_edge" in size else _sized(size))
            resizes.append(Resize(rule, filter))
    elif model == "PoolFormer":
        if options["do_resize"]:
            pct = options["crop_pct"]
            if pct is None:
                rule = _sized(size)
            elif "shortest_edge" in size:
                rule = shortest_edge(int(size["shortest_edge"] / pct))
            elif size["height"] == size["width"]:
                rule = shortest_edge(int(size["height"] / pct))
            else:
                rule = fixed(int(size["height"] / pct), int(size["width"] / pct))
            resizes.append(Resize(rule, filter))
    elif model == "DPT":
        _refuse(options, model, "do_pad")
        if options["do_resize"]:
            resizes.append(Resize(_dpt_size(options), filter))
    elif model == "MobileViT":
        if options["do_resize"]:
            resizes.append(Resize(_sized(size), filter))
        # Rescaled, cropped with 0.0 padding (the rescaled 0), never normalized.
        values = _values(options, normalize=False)
        if options["do_flip_channel_order"]:
            channels = (2, 1, 0)
    elif model == "EfficientNet":
        if options["do_resize"]:
            resizes.append(Resize(_sized(size), filter))
        if options["include_top"]:
            values.append(_normalize(0.0, options["image_std"]))
    else:  # Donut, Nougat
        height, width = size["height"], size["width"]
        if model == "Nougat" and options["do_crop_margin"]:
            prepare = _crop_margin
        if options["do_resize"]:
            resizes.append(Resize(shortest_edge(min(height, width)), filter))
        if options["do_thumbnail"]:
            resizes.append(Resize(_thumbnail(height, width), "bicubic", 2.0)
                           if model == "Nougat"
                           else Resize(_thumbnail(height, width),
                                       filter if options["resample"] else "bicubic"))
        if options["do_pad"]:
            if window is not None:
                raise ValueError(f"{model}ImageProcessor with both do_pad and "
                                 f"do_center_crop is not reproduced")
            window = Window(height, width, pad_offset)
    return Recipe(name=f"{model}ImageProcessor", resizes=resizes, window=window,
                  table=value_table(values), channels=channels, reference=reference,
                  convert=convert, prepare=prepare)

