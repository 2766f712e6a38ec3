"""Build assignment/data/notebook_images.npz: the two pictures of the convolution demo.

    python scripts/make_notebook_images.py

From matplotlib's bundled sample data (read through ``matplotlib.cbook.get_sample_data``):

- grace_hopper.jpg (512x600 photograph of Rear Admiral Grace Hopper, a U.S. Navy photo
  in the public domain): the top 512x512 square.
- Minduka_Present_Blue_Pack.png (128x128 clip art of a gift box by Minduka, from
  openclipart.org, public domain): composited on white.

Both resized to IMAGE_SIZE x IMAGE_SIZE with Lanczos filtering, stored as uint8 RGB
(``images``: (2, IMAGE_SIZE, IMAGE_SIZE, 3), ``names``). Needs Pillow.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from matplotlib import cbook
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
IMAGE_SIZE = 160


def make_images():
    with cbook.get_sample_data("grace_hopper.jpg") as f:
        hopper = Image.open(f).convert("RGB")
    side = min(hopper.size)
    hopper = hopper.crop((0, 0, side, side))
    with cbook.get_sample_data("Minduka_Present_Blue_Pack.png") as f:
        present = Image.open(f).convert("RGBA")
    white = Image.new("RGBA", present.size, (255, 255, 255, 255))
    white.alpha_composite(present)
    present = white.convert("RGB")
    images = np.stack(
        [np.asarray(im.resize((IMAGE_SIZE, IMAGE_SIZE), Image.LANCZOS), dtype=np.uint8) for im in (hopper, present)]
    )
    path = ROOT / "assignment" / "data" / "notebook_images.npz"
    np.savez_compressed(path, images=images, names=np.array(["grace_hopper", "present"]))
    print(f"wrote {path.relative_to(ROOT)}: {images.shape} {images.dtype}, {path.stat().st_size} bytes")


def main(argv=None):
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    make_images()
    return 0


if __name__ == "__main__":
    sys.exit(main())
