"""Pillow-exact resampling (``scipix.optimize.simd.resample``) and the
Hugging Face CLIP recipe, at each optimization level, and Pillow itself.

``opt_level`` NONE is the scalar reference, SIMD one thread of the chosen
variant, FULL all threads.  Pillow's ``Image.resize`` (one thread) is the
comparison where Pillow is installed.
"""
import numpy as np

from ._api import public, set_opt_level

# (source (H, W), target (W, H)): a photograph to a ViT input's short side,
# a square shrink, an enlargement.
CASES = {"1440x1080->224x298": ((1440, 1080), (224, 298)),
         "2048x2048->512x512": ((2048, 2048), (512, 512)),
         "224x224->512x512": ((224, 224), (512, 512))}
FILTERS = ["bilinear", "bicubic"]
LEVELS = ["NONE", "SIMD", "FULL"]


def photo(rows, cols):
    """Gradients with fine detail and noise, as a photograph has (RGB)."""
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    base = 128 + 60 * np.sin(x / 7.3 + y / 11.0)
    noise = np.random.default_rng(0).normal(0, 12, (rows, cols, 3)).astype(np.float32)
    image = np.stack([base, 255 - base, base * 0.5 + 60], -1) + noise
    return np.clip(image, 0, 255).astype(np.uint8)


class Resample:
    """RGB resize with Pillow's arithmetic."""

    params = (list(CASES), FILTERS, LEVELS)
    param_names = ["case", "filter", "opt_level"]

    def setup(self, case, name, level):
        self.resample = public("scipix.optimize.simd.resample")
        set_opt_level(level)
        source, self.size = CASES[case]
        self.image = photo(*source)
        self.out = np.empty((self.size[1], self.size[0], 3), np.uint8)

    def teardown(self, case, name, level):
        set_opt_level("FULL")

    def time_resample(self, case, name, level):
        self.resample(self.image, *self.size, name, out=self.out)


class Pillow:
    """The same resizes with Pillow's ``Image.resize``."""

    params = (list(CASES), FILTERS)
    param_names = ["case", "filter"]

    def setup(self, case, name):
        try:
            from PIL import Image
        except ImportError:
            raise NotImplementedError("Pillow is not installed") from None
        source, self.size = CASES[case]
        self.image = Image.fromarray(photo(*source))
        self.filter = getattr(Image.Resampling, name.upper())

    def time_resize(self, case, name):
        self.image.resize(self.size, self.filter)


class ClipRecipe:
    """8 decoded 1080x1440 photographs to CLIP's (8, 3, 224, 224) input."""

    params = [LEVELS]
    param_names = ["opt_level"]

    def setup(self, level):
        from_hf = public("scipix.recipes.from_hf")
        set_opt_level(level)
        self.recipe = from_hf({"image_processor_type": "CLIPImageProcessor",
                               "do_resize": True, "size": {"shortest_edge": 224},
                               "resample": 3, "do_center_crop": True,
                               "crop_size": {"height": 224, "width": 224},
                               "do_rescale": True, "rescale_factor": 1 / 255,
                               "do_normalize": True,
                               "image_mean": [0.48145466, 0.4578275, 0.40821073],
                               "image_std": [0.26862954, 0.26130258, 0.27577711],
                               "do_convert_rgb": True})
        self.images = [photo(1440, 1080) for _ in range(8)]
        self.out = np.empty((8, 3, 224, 224), np.float32)

    def teardown(self, level):
        set_opt_level("FULL")

    def time_recipe(self, level):
        self.recipe(self.images, out=self.out)


class OpenCVLanczos:
    """``cv2.resize(INTER_LANCZOS4)`` bit for bit (``reference="opencv"``),
    against OpenCV itself where it is installed (one thread each): a page
    region to an orientation classifier's short side, and an enlargement."""

    params = (["1440x1080->256x341", "64x600->2400x256"], ["scipix", "opencv"])
    param_names = ["case", "library"]
    sizes = {"1440x1080->256x341": ((1440, 1080), (256, 341)),
             "64x600->2400x256": ((64, 600), (2400, 256))}

    def setup(self, case, library):
        source, self.size = self.sizes[case]
        self.image = photo(*source)
        if library == "opencv":
            try:
                import cv2
            except ImportError:
                raise NotImplementedError("OpenCV is not installed") from None
            cv2.setNumThreads(1)
            self.run = lambda: cv2.resize(self.image, self.size,
                                          interpolation=cv2.INTER_LANCZOS4)
            return
        resample = public("scipix.optimize.simd.resample")
        set_opt_level("SIMD")
        try:
            resample(self.image[:8, :8], 4, 4, "lanczos", reference="opencv")
        except ValueError:
            raise NotImplementedError("resample has no OpenCV reference here") from None
        self.run = lambda: resample(self.image, *self.size, "lanczos", reference="opencv")

    def teardown(self, case, library):
        set_opt_level("FULL")

    def time_resize(self, case, library):
        self.run()
