"""Helpers of the Python tile checks, written from the formulas and GDAL's output (not from
vigie's code): Web Mercator maths and GDAL's reading of an MVT file."""

import math
import re
import subprocess

R = 6378137.0
ORIGIN = math.pi * R


def mercator(lon, lat):
    """Web Mercator metres of a longitude/latitude (latitude clamped to the projection's)."""
    lat = max(min(lat, 85.05112878), -85.05112878)
    return (math.radians(lon) * R, math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) * R)


def ogr_counts(path):
    """Features per layer of an MVT file as GDAL's MVT driver reads them (ogrinfo), and the
    error ogrinfo printed (None when it read the file)."""
    out = subprocess.run(["ogrinfo", "-ro", "-so", "-al", str(path)], capture_output=True, text=True)
    if out.returncode != 0:
        return {}, f"ogrinfo failed: {out.stderr.strip()}"
    counts = {}
    layer = None
    for line in out.stdout.splitlines():
        m = re.match(r"Layer name: (.+)", line)
        if m:
            layer = m.group(1).strip()
        m = re.match(r"Feature Count: (\d+)", line)
        if m and layer:
            counts[layer] = int(m.group(1))
    return counts, None
