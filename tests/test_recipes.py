"""scipix.recipes against the references: transformers' Pillow-backend image
processors (default constructors, nothing downloaded) and timm's eval
transform written out with Pillow, as torchvision applies it."""
import math
import warnings

import numpy as np
import pytest
from PIL import Image

from scipix.optimize import local_thread_count
from scipix.recipes import from_hf, from_timm

PROCESSORS = ["CLIP", "ConvNext", "DeiT", "Beit", "Siglip", "Blip", "DPT", "Bit", "Levit",
              "MobileViT", "EfficientNet", "PoolFormer", "ViT", "Donut", "Nougat"]


def photo(rng, rows, cols):
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float64)
    base = 128 + 60 * np.sin(x / 7.3 + y / 11.0)
    image = np.stack([base, 255 - base, base * 0.5 + 60], -1) + rng.normal(0, 10, (rows, cols, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def document(rng):
    """A white page with a dark block: Nougat's margin crop has work to do."""
    page = np.full((200, 150, 3), 255, np.uint8)
    page[40:120, 30:110] = rng.integers(0, 120, (80, 80, 3))
    return page


@pytest.fixture(scope="module")
def transformers():
    module = pytest.importorskip("transformers")
    module.utils.logging.set_verbosity_error()
    return module


def processor(transformers, name, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(transformers, name + "ImageProcessorPil")(**options)


@pytest.mark.parametrize("name", PROCESSORS)
def test_default_processors_bit_equal(transformers, rng, name):
    reference = processor(transformers, name)
    images = [Image.fromarray(photo(rng, *size)) for size in
              [(360, 480), (300, 97), (37, 500), (224, 224), (1, 1)]]
    images.append(Image.fromarray(document(rng)))
    recipe = from_hf(reference)
    for image in images:
        expected = reference(images=[image], return_tensors="np")["pixel_values"]
        np.testing.assert_array_equal(recipe([image]), expected)
    # The config dict gives the same recipe.
    np.testing.assert_array_equal(from_hf(reference.to_dict())(images[:1]),
                                  recipe(images[:1]))


@pytest.mark.parametrize("name, options", [
    ("CLIP", {"crop_size": {"height": 301, "width": 300}}),
    ("CLIP", {"resample": 2, "size": {"shortest_edge": 97}}),
    ("ConvNext", {"size": {"shortest_edge": 224}, "crop_pct": 0.95}),
    ("DPT", {"keep_aspect_ratio": True, "ensure_multiple_of": 32}),
    ("PoolFormer", {"size": {"height": 256, "width": 256}}),
    ("EfficientNet", {"rescale_offset": True, "rescale_factor": 1 / 127.5}),
    ("ViT", {"resample": 0}),
    ("Levit", {"size": {"height": 200, "width": 180}}),
    ("Donut", {"size": {"height": 320, "width": 240}}),
])
def test_processor_options_bit_equal(transformers, rng, name, options):
    reference = processor(transformers, name, **options)
    for size in [(360, 480), (97, 300)]:
        image = Image.fromarray(photo(rng, *size))
        expected = reference(images=[image], return_tensors="np")["pixel_values"]
        np.testing.assert_array_equal(from_hf(reference)([image]), expected)


def test_batches_threads_inputs_and_out(transformers, rng, tmp_path):
    reference = processor(transformers, "CLIP")
    recipe = from_hf(reference)
    pixels = [photo(rng, 250, 330), photo(rng, 400, 260), photo(rng, 224, 224)]
    images = [Image.fromarray(p) for p in pixels]
    expected = reference(images=images, return_tensors="np")["pixel_values"]
    for threads in (1, 2):
        with local_thread_count(threads):
            np.testing.assert_array_equal(recipe(images), expected)
    # NumPy arrays (RGB or BGR), files, RGBA and gray images converted as CLIP does.
    np.testing.assert_array_equal(recipe(pixels), expected)
    np.testing.assert_array_equal(recipe([p[:, :, ::-1] for p in pixels], input_order="bgr"),
                                  expected)
    paths = []
    for i, image in enumerate(images):
        paths.append(tmp_path / f"{i}.png")
        image.save(paths[-1])
    np.testing.assert_array_equal(recipe(paths), expected)
    rgba = Image.fromarray(np.dstack([pixels[0], rng.integers(0, 256, (250, 330), np.uint8)]))
    gray = images[1].convert("L")
    np.testing.assert_array_equal(recipe([rgba, gray]),
                                  reference(images=[rgba, gray], return_tensors="np")[
                                      "pixel_values"])
    out = np.empty_like(expected)
    assert recipe(images, out=out) is out
    np.testing.assert_array_equal(out, expected)


def test_refusals_name_the_option(transformers, rng, tmp_path):
    with pytest.raises(ValueError, match="do_align_long_axis"):
        from_hf(processor(transformers, "Donut", do_align_long_axis=True))
    with pytest.raises(ValueError, match="no scipix recipe"):
        from_hf({"image_processor_type": "SamImageProcessor"})
    with pytest.raises(ValueError, match="image_processor_type"):
        from_hf({"size": {"shortest_edge": 224}})
    legacy = processor(transformers, "ViT").to_dict()
    legacy["size"] = 224  # a bare number: a square for ViT, a shortest edge for CLIP
    with pytest.raises(ValueError, match="size must be a dict"):
        from_hf(legacy)
    clip = processor(transformers, "CLIP")
    config = clip.to_dict()
    config["crop_size"] = 224  # always a square, as transformers reads it
    image = Image.fromarray(photo(rng, 300, 260))
    np.testing.assert_array_equal(from_hf(config)([image]), from_hf(clip)([image]))
    recipe = from_hf(processor(transformers, "ViT"))  # no RGB conversion by default
    out = np.full((1, 3, 224, 224), 7, np.float32)
    with pytest.raises(ValueError, match="mode 'RGBA'"):
        recipe([Image.fromarray(np.zeros((9, 9, 4), np.uint8))], out=out)
    assert (out == 7).all()
    with pytest.raises(ValueError, match="images\\[0\\]"):
        recipe([np.zeros((9, 9), np.uint8)])
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    for path in (broken, tmp_path / "missing.jpg"):
        with pytest.raises(ValueError, match=r"images\[1\]: cannot read"):
            recipe([np.zeros((9, 9, 3), np.uint8), path])
    with pytest.raises(TypeError, match="wrap one image"):
        recipe(np.zeros((9, 9, 3), np.uint8))
    with pytest.raises(ValueError, match="out"):
        recipe([np.zeros((9, 9, 3), np.uint8)], out=np.zeros((1, 3, 224, 223), np.float32))


# timm: torchvision's transforms on Pillow images, written out.
PILLOW = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
          "lanczos": Image.Resampling.LANCZOS}


def timm_reference(image, input_size, interpolation, mean, std, crop_pct, crop_mode):
    height, width = input_size[1:]
    scale_h, scale_w = math.floor(height / crop_pct), math.floor(width / crop_pct)
    fill = (0, 0, 0)
    if crop_mode == "squash":
        image = image.resize((scale_w, scale_h), PILLOW[interpolation])
    elif crop_mode == "border" or scale_h != scale_w:
        longest = 1.0 if crop_mode == "border" else 0.0
        ratios = (image.height / scale_h, image.width / scale_w)
        ratio = max(ratios) * longest + min(ratios) * (1 - longest)
        size = (round(image.width / ratio), round(image.height / ratio))
        image = image.resize(size, PILLOW[interpolation if crop_mode == "border"
                                          else "bilinear"])
        if crop_mode == "border":
            fill = tuple(round(255 * m) for m in mean)
    else:
        short, long = sorted(image.size)
        new_long = int(scale_h * long / short)
        size = (scale_h, new_long) if image.width <= image.height else (new_long, scale_h)
        if size != image.size:
            image = image.resize(size, PILLOW[interpolation])
    # torchvision center_crop: pad floor before, then offsets rounded half to even.
    pad_w, pad_h = max(width - image.width, 0), max(height - image.height, 0)
    canvas = Image.new("RGB", (image.width + pad_w, image.height + pad_h), fill)
    canvas.paste(image, (pad_w // 2, pad_h // 2))
    top = int(round((canvas.height - height) / 2.0))
    left = int(round((canvas.width - width) / 2.0))
    pixels = np.asarray(canvas.crop((left, top, left + width, top + height)))
    values = pixels.astype(np.float32) / np.float32(255)
    values = (values - np.float32(mean)) / np.float32(std)
    return values.transpose(2, 0, 1)[None]


@pytest.mark.parametrize("config", [
    {"input_size": (3, 224, 224), "interpolation": "bicubic", "crop_pct": 0.875,
     "crop_mode": "center"},
    {"input_size": (3, 288, 288), "interpolation": "bilinear", "crop_pct": 0.95,
     "crop_mode": "center"},
    {"input_size": (3, 224, 192), "interpolation": "bicubic", "crop_pct": 0.9,
     "crop_mode": "center"},
    {"input_size": (3, 224, 224), "interpolation": "lanczos", "crop_pct": 1.0,
     "crop_mode": "squash"},
    {"input_size": (3, 256, 256), "interpolation": "bicubic", "crop_pct": 0.875,
     "crop_mode": "border"},
])
def test_timm_eval_transform(rng, config):
    config = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225), **config}
    recipe = from_timm(config)
    for size in [(360, 480), (97, 300), (256, 256), (20, 30)]:
        image = Image.fromarray(photo(rng, *size))
        np.testing.assert_array_equal(recipe([image]), timm_reference(image, **config))


def test_timm_refusals():
    with pytest.raises(ValueError, match="crop_mode"):
        from_timm({"crop_mode": "random"})
    with pytest.raises(ValueError, match="interpolation"):
        from_timm({"interpolation": "area"})
    with pytest.raises(ValueError, match="crop_border_pixels"):
        from_timm({"crop_border_pixels": 2})


# ---------------------------------------------------------------- Pillow images, not copied

def test_pillow_pixels_are_the_image_not_a_copy(rng):
    from scipix.recipes._pillow_view import pillow_pixels
    rgb = photo(rng, 37, 51)
    for mode, pixels in [("RGB", rgb), ("L", rgb[:, :, 0]),
                         ("RGBA", np.dstack([rgb, rgb[:, :, :1]]))]:
        image = Image.fromarray(pixels, mode)
        view = pillow_pixels(image)
        if view is None:
            pytest.skip("this Pillow exports no Arrow array (before 11.2)")
        assert not view.flags.writeable
        np.testing.assert_array_equal(view[..., :pixels.shape[-1]] if mode == "RGB" else view,
                                      pixels)
        assert np.shares_memory(view, pillow_pixels(image))  # the image's own memory
    # The view keeps the memory alive after the image is gone.
    image = Image.fromarray(rgb)
    view = pillow_pixels(image)
    del image
    junk = [np.ones(1 << 16) for _ in range(64)]
    np.testing.assert_array_equal(view[:, :, :3], rgb)
    del junk
    assert pillow_pixels(Image.new("P", (4, 4))) is None  # a palette: no plain view


def test_recipe_reads_pillow_images_in_place_and_converts_colour_keys(transformers, rng):
    clip = from_hf(processor(transformers, "CLIP"))
    pixels = photo(rng, 300, 260)
    np.testing.assert_array_equal(clip([Image.fromarray(pixels)]), clip([pixels]))
    # An RGB image with a colour key is composited over white, as transformers does.
    keyed = Image.fromarray(pixels)
    keyed.info["transparency"] = tuple(int(v) for v in pixels[0, 0])
    reference = processor(transformers, "CLIP")(images=[keyed], return_tensors="np")
    np.testing.assert_array_equal(clip([keyed]), reference["pixel_values"])
