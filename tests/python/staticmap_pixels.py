"""Reads a PNG with Pillow (a decoder vigie did not write) and prints, as JSON, its size, the
RGB of the pixels asked for and, for each box asked for, how many of its pixels differ from a
given background colour.

Usage: staticmap_pixels.py IMAGE.png QUERY.json
QUERY.json: {"pixels": {"name": [x, y], ...}, "boxes": {"name": [x0, y0, x1, y1], ...},
             "background": [r, g, b]}
"""

import json
import sys

from PIL import Image


def main() -> None:
    image = Image.open(sys.argv[1])
    image.load()
    query = json.load(open(sys.argv[2], encoding="utf-8"))
    rgb = image.convert("RGB")
    background = tuple(query.get("background", [0, 0, 0]))
    pixels = {name: list(rgb.getpixel((x, y))) for name, (x, y) in query.get("pixels", {}).items()}
    boxes = {}
    for name, (x0, y0, x1, y1) in query.get("boxes", {}).items():
        region = rgb.crop((x0, y0, x1, y1))
        boxes[name] = sum(1 for p in region.get_flattened_data() if max(abs(a - b) for a, b in zip(p, background)) > 8)
    print(json.dumps({"format": image.format, "mode": image.mode, "size": list(image.size), "pixels": pixels, "boxes": boxes}))


main()
