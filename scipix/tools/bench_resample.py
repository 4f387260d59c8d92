"""The ``resample`` and ``recipes`` tables of ``python -m scipix bench``.

``resample``: RGB resizes with Pillow's arithmetic, scipix on one thread
against Pillow's ``Image.resize`` (whichever Pillow is installed: run the
table in a virtual environment with pillow-simd to time that) and torch's
uint8 channels-last ``interpolate(antialias=True)`` on one thread, where
installed; interleaved rounds.

``recipes``: 32 decoded 1080x1440 photographs to CLIP's (32, 3, 224, 224)
input: ``from_hf(CLIPImageProcessor())`` on 1 and 2 threads against the
transformers Pillow processor and, where torch is installed, torch's
``interpolate`` + normalize over the same uint8 tensors (the torchvision
backend's work); then from 32 JPEG files, with and without draft decoding,
against ``PIL.Image.open`` + the processor.
"""
import os
import tempfile
import warnings

import numpy as np

from ..optimize import local_thread_count
from ..optimize.simd import resample
from .timing import interleaved_medians, speedup_row

CASES = [((1440, 1080), (224, 298)), ((2048, 2048), (512, 512)), ((224, 224), (512, 512))]
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def photo(rows, cols, seed=0):
    """Gradients with fine detail and noise, as a photograph has (RGB)."""
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    base = 128 + 60 * np.sin(x / 7.3 + y / 11.0) + 30 * np.cos(x * y / 5e4)
    noise = np.random.default_rng(seed).normal(0, 12, (rows, cols, 3)).astype(np.float32)
    image = np.stack([base, 255 - base, base * 0.5 + 60], -1) + noise
    return np.clip(image, 0, 255).astype(np.uint8)


def _optional(name):
    try:
        return __import__(name)
    except ImportError:
        return None


def resample_table(repeat, record):
    from PIL import Image, __version__ as pillow_version
    torch = _optional("torch")
    if torch is not None:
        torch.set_num_threads(1)
    print(f"\nresample (Pillow's arithmetic), one thread; scipix, then Pillow {pillow_version}"
          f"{', torch ' + torch.__version__ if torch else ''} (times and scipix's speed-up)")
    table = record.table("resample", "RGB resize with Pillow's arithmetic, one thread, "
                         "against Pillow's Image.resize and torch's uint8 antialiased "
                         "interpolate", ["case"], ["scipix", "Pillow", "torch"], ours="scipix",
                         chart="speedup")
    for (rows, cols), (width, height) in CASES:
        pixels = photo(rows, cols)
        image = Image.fromarray(pixels)
        out = np.empty((height, width, 3), np.uint8)
        tensor = torch and torch.from_numpy(pixels).permute(2, 0, 1)[None].contiguous(
            memory_format=torch.channels_last)
        for name in ("bilinear", "bicubic"):
            pillow_filter = getattr(Image.Resampling, name.upper())
            contenders = {"scipix": lambda: resample(pixels, width, height, name, out=out),
                          "Pillow": lambda: image.resize((width, height), pillow_filter)}
            if torch is not None:
                contenders["torch"] = lambda: torch.nn.functional.interpolate(
                    tensor, (height, width), mode=name, antialias=True, align_corners=False)
            with local_thread_count(1):
                medians = interleaved_medians(contenders, repeat)
            speedup_row(table, f"{cols}x{rows} -> {width}x{height} {name}", medians, "scipix")


def _clip_processor():
    transformers = _optional("transformers")
    if transformers is None:
        return None
    transformers.utils.logging.set_verbosity_error()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return transformers.CLIPImageProcessorPil()


def _torch_clip(torch, tensors):
    """CLIP's input the torchvision backend's way, in torch: uint8 resize
    (antialiased bicubic), centre crop, float rescale and normalize."""
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    crops = []
    for tensor in tensors:
        rows, cols = tensor.shape[-2:]
        size = (int(224 * rows / cols), 224) if cols <= rows else (224, int(224 * cols / rows))
        resized = torch.nn.functional.interpolate(tensor, size, mode="bicubic", antialias=True,
                                                  align_corners=False)
        top, left = (size[0] - 224) // 2, (size[1] - 224) // 2
        crops.append(resized[:, :, top:top + 224, left:left + 224])
    return (torch.cat(crops).float() / 255 - mean) / std


def recipes_table(repeat, record, n_images=32):
    from PIL import Image
    from ..recipes import from_hf
    processor = _clip_processor()
    torch = _optional("torch")
    if torch is not None:
        torch.set_num_threads(1)
    pixels = [photo(1440, 1080, seed) for seed in range(n_images)]
    images = [Image.fromarray(p) for p in pixels]
    recipe = from_hf(processor) if processor is not None else from_hf({
        "image_processor_type": "CLIPImageProcessor", "do_resize": True,
        "size": {"shortest_edge": 224}, "resample": 3, "do_center_crop": True,
        "crop_size": {"height": 224, "width": 224}, "do_rescale": True,
        "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": list(CLIP_MEAN),
        "image_std": list(CLIP_STD), "do_convert_rgb": True})
    out = np.empty((n_images, 3, 224, 224), np.float32)
    print(f"\nrecipes: {n_images} decoded 1080x1440 RGB -> CLIP (N, 3, 224, 224) float32; "
          f"scipix from_hf(CLIPImageProcessor()), then the others (times, scipix's speed-up)")

    def scipix_on(threads):
        def run():
            with local_thread_count(threads):
                recipe(images, out=out)
        return run
    contenders = {"scipix 1T": scipix_on(1), "scipix 2T": scipix_on(2)}
    if processor is not None:
        contenders["transformers Pil 1T"] = lambda: processor(images=images,
                                                              return_tensors="np")
    if torch is not None:
        tensors = [torch.from_numpy(p).permute(2, 0, 1)[None].contiguous(
            memory_format=torch.channels_last) for p in pixels]
        contenders["torch 1T"] = lambda: _torch_clip(torch, tensors)
    medians = interleaved_medians(contenders, max(3, repeat // 3), round_seconds=0)
    table = record.table("recipes", f"CLIP's input, {n_images} 1080x1440 RGB photographs -> "
                         f"(N, 3, 224, 224) float32: from_hf(CLIPImageProcessor()) against "
                         f"transformers' Pillow processor and torch", ["case"],
                         ["scipix 1T", "scipix 2T", "scipix draft 1T", "transformers Pil 1T",
                          "torch 1T", "decode only 1T", "Image.open+transformers 1T"],
                         ours="scipix 1T", chart="speedup")
    speedup_row(table, "decoded images", medians, "scipix 1T")

    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for index, image in enumerate(images):
            paths.append(os.path.join(folder, f"{index}.jpg"))
            image.save(paths[-1], quality=90)

        def files_on(threads, draft=False):
            def run():
                with local_thread_count(threads):
                    recipe(paths, out=out, draft=draft)
            return run

        def decode_only():
            for path in paths:
                with Image.open(path) as opened:
                    opened.convert("RGB")
        contenders = {"scipix 1T": files_on(1), "scipix 2T": files_on(2),
                      "scipix draft 1T": files_on(1, True), "decode only 1T": decode_only}
        if processor is not None:
            contenders["Image.open+transformers 1T"] = lambda: processor(
                images=[Image.open(path) for path in paths], return_tensors="np")
        medians = interleaved_medians(contenders, max(3, repeat // 3), round_seconds=0)
        speedup_row(table, "JPEG files (quality 90)", medians, "scipix 1T")
        exact = recipe(paths)
        drafted = recipe(paths, draft=True)
        print(f"  draft decode: max |difference| {np.abs(exact - drafted).max():.3f}, mean "
              f"{np.abs(exact - drafted).mean():.4f} (normalized units)")
