"""Reads a PMTiles archive with Protomaps' own Python library (PyPI `pmtiles`), so the end-to-end
tests can check vigie's offline-pack exports (and the fixtures of make_pmtiles.py) with a reader
vigie did not write.

Usage: read_pmtiles.py ARCHIVE.pmtiles [--tile Z/X/Y]

Prints on stdout:
  {"header": {tile_type, tile_compression, internal_compression, min_zoom, max_zoom,
              bounds: [w, s, e, n], center: [lon, lat, zoom], clustered, addressed_tiles_count,
              tile_entries_count, tile_contents_count},
   "metadata": {...the archive's JSON metadata...},
   "tiles": [{"z", "x", "y", "sha256": of the decompressed tile, "bytes": its length,
              "layers": {layer: feature count} for MVT tiles, null otherwise}, ...]}
with every tile the directories address, in tile id order (leaf directories followed).
With --tile Z/X/Y: that tile's features per layer, geometry in longitude/latitude:
  {"z", "x", "y", "sha256", "layers": {layer: {"extent", "features": [{"id", "properties",
  "geometry"}]}}} ("layers" is null for raster tiles).
Exits 1 with the reason on stderr (not a PMTiles v3 file, unsupported compression, missing tile,
undecodable MVT).
"""

import argparse
import gzip
import hashlib
import json
import math
import sys

import mapbox_vector_tile
from pmtiles.reader import MmapSource, Reader, all_tiles
from pmtiles.tile import Compression, MagicNumberNotFound, SpecVersionUnsupported, TileType


def deg(v):
    return v / 10_000_000


def decompress(data, compression):
    if compression == Compression.GZIP:
        return gzip.decompress(data)
    if compression in (Compression.NONE, Compression.UNKNOWN):
        return bytes(data)
    raise ValueError(f"tile compression {compression.name} is not supported by this check")


def lonlat(z, x, y, extent):
    """A transformer from tile units (y down) of z/x/y to longitude/latitude."""
    n = 1 << z

    def f(px, py):
        lon = (x + px / extent) / n * 360 - 180
        lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (y + py / extent) / n))))
        return lon, lat

    return f


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("archive")
    ap.add_argument("--tile", help="Z/X/Y: print this tile's features instead")
    args = ap.parse_args()

    with open(args.archive, "rb") as f:
        get_bytes = MmapSource(f)
        reader = Reader(get_bytes)
        h = reader.header()
        is_mvt = h["tile_type"] == TileType.MVT

        if args.tile:
            z, x, y = (int(v) for v in args.tile.split("/"))
            data = reader.get(z, x, y)
            if data is None:
                sys.exit(f"{args.archive}: no tile {z}/{x}/{y}")
            data = decompress(data, h["tile_compression"])
            layers = None
            if is_mvt:
                extents = {name: layer["extent"] for name, layer in mapbox_vector_tile.decode(data).items()}
                options = {name: {"y_coord_down": True, "transformer": lonlat(z, x, y, e)} for name, e in extents.items()}
                decoded = mapbox_vector_tile.decode(data, per_layer_options=options)
                layers = {name: {"extent": extents[name], "features": decoded[name]["features"]} for name in extents}
            out = {"z": z, "x": x, "y": y, "sha256": hashlib.sha256(data).hexdigest(), "layers": layers}
            print(json.dumps(out))
            return

        tiles = []
        for (z, x, y), data in all_tiles(get_bytes):
            data = decompress(data, h["tile_compression"])
            layers = None
            if is_mvt:
                layers = {k: len(v["features"]) for k, v in mapbox_vector_tile.decode(data).items()}
            tiles.append({"z": z, "x": x, "y": y, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "layers": layers})
        header = {
            "tile_type": h["tile_type"].name.lower(),
            "tile_compression": h["tile_compression"].name.lower(),
            "internal_compression": h["internal_compression"].name.lower(),
            "min_zoom": h["min_zoom"],
            "max_zoom": h["max_zoom"],
            "bounds": [deg(h["min_lon_e7"]), deg(h["min_lat_e7"]), deg(h["max_lon_e7"]), deg(h["max_lat_e7"])],
            "center": [deg(h["center_lon_e7"]), deg(h["center_lat_e7"]), h["center_zoom"]],
            **{k: h[k] for k in ("clustered", "addressed_tiles_count", "tile_entries_count", "tile_contents_count")},
        }
        print(json.dumps({"header": header, "metadata": reader.metadata(), "tiles": tiles}))


if __name__ == "__main__":
    try:
        main()
    except MagicNumberNotFound:
        sys.exit(f"read_pmtiles.py: {sys.argv[1]} is not a PMTiles archive (no 'PMTiles' magic)")
    except SpecVersionUnsupported:
        sys.exit(f"read_pmtiles.py: {sys.argv[1]} is not PMTiles version 3")
    except Exception as e:  # a short reason, not a traceback, for the Rust test's failure message
        sys.exit(f"read_pmtiles.py: {type(e).__name__}: {e}")
