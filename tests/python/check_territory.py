"""Checks that tiles served to an identity narrowed to a territory hold nothing outside it,
with a decoder and a geometry library vigie did not write.

Usage: check_territory.py DIR

DIR holds (written by tests/e2e/territories.rs):
  territory.geojson   the territory (a GeoJSON geometry, WGS84)
  tiles.json          [{"z":..,"x":..,"y":..,"layer": "entries"}]
  scoped/<z>/<x>/<y>.mvt  the tile as the member with the territory got it
  whole/<z>/<x>/<y>.mvt   the same tile as a member of the whole workspace got it

For every tile, decoded with mapbox-vector-tile: every point feature of the layer in the scoped
tile lies in the territory (shapely `intersects`, boundary included, within the one tile unit
that snapping to the 4096 grid may move a point), and every feature of the whole tile that lies
in the territory (by more than that unit) is in the scoped tile. Prints a summary as JSON;
exits 1 listing every failure.
"""

import json
import math
import sys
from pathlib import Path

import mapbox_vector_tile
from shapely.geometry import Point, shape

EXTENT = 4096
R = 6378137.0
ORIGIN = math.pi * R


def lonlat(z, x, y, px, py):
    """A tile unit position (y down) to longitude/latitude."""
    size = 2 * ORIGIN / (1 << z)
    mx = -ORIGIN + (x + px / EXTENT) * size
    my = ORIGIN - (y + py / EXTENT) * size
    return mx / R * 180 / math.pi, math.degrees(2 * math.atan(math.exp(my / R)) - math.pi / 2)


def points(path, layer, z, x, y):
    """Feature id -> lon/lat of the layer's point features in a tile (empty when absent)."""
    if not path.exists() or path.stat().st_size == 0:
        return {}
    tile = mapbox_vector_tile.decode(path.read_bytes(), default_options={"y_coord_down": True})
    out = {}
    for f in tile.get(layer, {}).get("features", []):
        g = f["geometry"]
        if g["type"] == "Point":
            out[f["id"]] = lonlat(z, x, y, *g["coordinates"])
    return out


def main():
    d = Path(sys.argv[1])
    territory = shape(json.loads((d / "territory.geojson").read_text()))
    boundary = territory.boundary
    failures, scoped_total, whole_total, inside_total = [], 0, 0, 0
    for t in json.loads((d / "tiles.json").read_text()):
        z, x, y, layer = t["z"], t["x"], t["y"], t["layer"]
        rel = Path(str(z)) / str(x) / f"{y}.mvt"
        scoped = points(d / "scoped" / rel, layer, z, x, y)
        whole = points(d / "whole" / rel, layer, z, x, y)
        # One tile unit, in degrees at this zoom (a little more, for the latitude's stretch).
        unit = 360.0 / (1 << z) / EXTENT * 1.5
        scoped_total += len(scoped)
        whole_total += len(whole)
        for fid, (lon, lat) in scoped.items():
            p = Point(lon, lat)
            if not territory.intersects(p) and boundary.distance(p) > unit:
                failures.append(f"{z}/{x}/{y}: feature {fid} at {lon:.6f},{lat:.6f} lies outside the territory")
        for fid, (lon, lat) in whole.items():
            p = Point(lon, lat)
            if territory.intersects(p) and boundary.distance(p) > unit:
                inside_total += 1
                if fid not in scoped:
                    failures.append(f"{z}/{x}/{y}: feature {fid} lies in the territory but is missing")
    print(json.dumps({"scoped": scoped_total, "whole": whole_total, "inside": inside_total, "failures": len(failures)}))
    for f in failures[:50]:
        print(f, file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
