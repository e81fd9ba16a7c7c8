"""Writes a small PMTiles archive with Protomaps' own Python library (PyPI `pmtiles`), so the
end-to-end tests can check that vigie serves archives written by software other than its own.

Usage: make_pmtiles.py OUT.pmtiles [--raster]

  default   vector: layer "places" with Paris, Lyon and Marseille (ids 1, 2, 3), z0..6, MVT
            encoded by mapbox-vector-tile, tiles gzip-compressed, only the tiles holding a place.
  --raster  raster: every tile of z0..3, each a 256x256 PNG of rgb(200, 30, 30), uncompressed.

Prints {"tiles": [[z, x, y], ...], "bounds": [w, s, e, n], "center": [lon, lat, z]} on stdout;
exits 1 with the reason on stderr if the encoded points do not decode back to their places.
"""

import argparse
import gzip
import io
import json
import math
import sys

import mapbox_vector_tile
from PIL import Image
from pmtiles.tile import Compression, TileType, deserialize_header, serialize_header, tileid_to_zxy, zxy_to_tileid
from pmtiles.writer import write
from shapely.geometry import Point

from tilecheck import ORIGIN, mercator

EXTENT = 4096
PLACES = [  # id, name, population, lon, lat
    (1, "Paris", 2102650, 2.3522, 48.8566),
    (2, "Lyon", 522250, 4.8357, 45.7640),
    (3, "Marseille", 873076, 5.3698, 43.2965),
]
VECTOR_METADATA = {
    "name": "Test places",
    "attribution": "© test fixture",
    "vector_layers": [
        {"id": "places", "fields": {"name": "String", "population": "Number"}, "minzoom": 0, "maxzoom": 6}
    ],
}
RASTER_METADATA = {"name": "Test raster", "attribution": "© raster fixture"}


def tile_bounds(z, x, y):
    """Web Mercator metres (minx, miny, maxx, maxy) of tile z/x/y (XYZ scheme, y down)."""
    size = 2 * ORIGIN / (1 << z)
    return (-ORIGIN + x * size, ORIGIN - (y + 1) * size, -ORIGIN + (x + 1) * size, ORIGIN - y * size)


def tile_of(z, lon, lat):
    mx, my = mercator(lon, lat)
    n = 1 << z
    return z, int((mx + ORIGIN) / (2 * ORIGIN) * n), int((ORIGIN - my) / (2 * ORIGIN) * n)


def unit_to_lonlat(z, x, y, px, py):
    """Tile units (y down) of z/x/y back to longitude/latitude."""
    minx, _, _, maxy = tile_bounds(z, x, y)
    size = 2 * ORIGIN / (1 << z)
    mx, my = minx + px / EXTENT * size, maxy - py / EXTENT * size
    return math.degrees(mx / 6378137.0), math.degrees(2 * math.atan(math.exp(my / 6378137.0)) - math.pi / 2)


def e7(v):
    return round(v * 10_000_000)


def vector_tiles():
    """{tile id: gzip MVT bytes} for every tile of z0..6 holding a place, each tile checked by
    decoding it back to longitude/latitude."""
    by_tile = {}
    for place in PLACES:
        for z in range(0, 7):
            by_tile.setdefault(tile_of(z, place[3], place[4]), []).append(place)
    out = {}
    for (z, x, y), places in by_tile.items():
        features = [
            {"id": fid, "geometry": Point(*mercator(lon, lat)), "properties": {"name": name, "population": pop}}
            for fid, name, pop, lon, lat in places
        ]
        # quantize_bounds maps the tile's metres onto 0..EXTENT with y up; the encoder then flips
        # y (y_coord_down False) to MVT's y-down grid.
        data = mapbox_vector_tile.encode(
            {"name": "places", "features": features},
            default_options={"quantize_bounds": tile_bounds(z, x, y), "extents": EXTENT, "y_coord_down": False},
        )
        check(z, x, y, data, places)
        out[zxy_to_tileid(z, x, y)] = gzip.compress(data, mtime=0)
    return out


def check(z, x, y, data, places):
    """Decode with y down (as MVT stores it) and compare with the source within one tile unit
    at low zooms (rounding to the 4096 grid) or 0.01°, whichever is larger."""
    tolerance = max(0.01, 360 / (1 << z) / EXTENT)
    got = {f["id"]: f for f in mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})["places"]["features"]}
    for fid, name, pop, lon, lat in places:
        f = got.get(fid)
        if f is None or f["properties"] != {"name": name, "population": pop}:
            sys.exit(f"{z}/{x}/{y}: place {fid} missing or wrong properties: {f}")
        glon, glat = unit_to_lonlat(z, x, y, *f["geometry"]["coordinates"])
        if abs(glon - lon) > tolerance or abs(glat - lat) > tolerance:
            sys.exit(f"{z}/{x}/{y}: {name} decodes to {glon:.5f},{glat:.5f}, expected {lon},{lat}")


def raster_tiles():
    buf = io.BytesIO()
    Image.new("RGB", (256, 256), (200, 30, 30)).save(buf, format="PNG")
    return {tid: buf.getvalue() for tid in range(zxy_to_tileid(4, 0, 0))}  # every tile of z0..3


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--raster", action="store_true")
    args = ap.parse_args()

    if args.raster:
        tiles, metadata = raster_tiles(), RASTER_METADATA
        bounds, center = [-180.0, -85.0511287, 180.0, 85.0511287], [0.0, 0.0, 0]
        kind = {"tile_type": TileType.PNG, "tile_compression": Compression.NONE, "min_zoom": 0, "max_zoom": 3}
    else:
        tiles, metadata = vector_tiles(), VECTOR_METADATA
        lons, lats = [p[3] for p in PLACES], [p[4] for p in PLACES]
        bounds = [round(v, 7) for v in (min(lons) - 0.5, min(lats) - 0.5, max(lons) + 0.5, max(lats) + 0.5)]
        center = [2.3522, 48.8566, 5]
        kind = {"tile_type": TileType.MVT, "tile_compression": Compression.GZIP, "min_zoom": 0, "max_zoom": 6}

    header = {
        **kind,
        "min_lon_e7": e7(bounds[0]), "min_lat_e7": e7(bounds[1]),
        "max_lon_e7": e7(bounds[2]), "max_lat_e7": e7(bounds[3]),
        "center_zoom": center[2], "center_lon_e7": e7(center[0]), "center_lat_e7": e7(center[1]),
    }  # the writer sets internal_compression (gzip) and min/max zoom (see below) itself
    with write(args.out) as w:
        for tid in sorted(tiles):  # the writer wants tile id order for a clustered archive
            w.write_tile(tid, tiles[tid])
        w.finalize(header, metadata)
    # pmtiles 3.8.1's finalize takes max_zoom from the last directory entry's first tile id, not
    # its last: the raster fixture's 85 identical tiles are one run from 0/0/0, so it writes
    # max_zoom 0. Put back the zooms written, with the library's own header serializer.
    with open(args.out, "r+b") as f:
        written = deserialize_header(f.read(127))
        written.update(min_zoom=kind["min_zoom"], max_zoom=kind["max_zoom"])
        f.seek(0)
        f.write(serialize_header(written))
    print(json.dumps({"tiles": [list(tileid_to_zxy(t)) for t in sorted(tiles)], "bounds": bounds, "center": center}))


if __name__ == "__main__":
    main()
