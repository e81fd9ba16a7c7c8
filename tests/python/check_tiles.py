"""Checks vigie tiles with decoders vigie did not write.

Usage: check_tiles.py DIR

DIR holds (written by the Rust end-to-end test tests/e2e/decoders.rs):
  layers/<layer>.geojson  the features each layer must hold, WGS84, feature `id` = MVT id
  tiles/<z>/<x>/<y>.mvt   tiles as served (one composite tile per z/x/y)
  tiles.json              [{"z":..,"x":..,"y":..,"layers":[ids]}]

For every tile and requested layer, independently of vigie's code:
  - decode with mapbox-vector-tile (Python) and with GDAL's MVT driver (ogrinfo) and check both
    see the same layers and feature counts;
  - project the source features to tile units with this file's own Web Mercator maths and check
    that exactly the features meeting the buffered tile are there (polygons and lines too small
    to survive snapping to the 4096 grid may be missing, never extra ones), that points are within
    one unit of their true position, that every vertex is inside the buffer, that polygons are
    valid (shapely) and their area matches the exact clip;
  - for tiles side by side, that a polygon crossing the seam leaves no gap: both halves, cut to
    their own tile, join into the source polygon.
Prints a summary; exits 1 with every failure listed.
"""

import json
import sys
from pathlib import Path

import mapbox_vector_tile
import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, box, shape
from shapely.ops import unary_union
from shapely.validation import explain_validity

from tilecheck import ORIGIN, mercator, ogr_counts

EXTENT = 4096
BUFFER = 64

failures = []


def fail(msg):
    failures.append(msg)


def to_tile(z, x, y):
    """A function projecting an (N, 2) array of lon/lat to tile units of z/x/y (y down)."""
    size = 2 * ORIGIN / (1 << z)
    min_x = -ORIGIN + x * size
    max_y = ORIGIN - y * size

    def f(coords):
        out = np.empty_like(coords)
        for i, (lon, lat) in enumerate(coords):
            mx, my = mercator(lon, lat)
            out[i] = ((mx - min_x) / size * EXTENT, (max_y - my) / size * EXTENT)
        return out

    return f


def transform(func, geom):
    return shapely.transform(geom, func)


def decoded_geometry(g):
    """mapbox-vector-tile GeoJSON-like geometry in tile units (y down) to shapely."""
    return shape(g)


def main(root):
    root = Path(root)
    sources, minzoom = {}, {}
    for p in sorted((root / "layers").glob("*.geojson")):
        fc = json.loads(p.read_text())
        sources[p.stem] = {f["id"]: shape(f["geometry"]) for f in fc["features"]}
        minzoom[p.stem] = fc.get("minzoom", 0)
    tiles = json.loads((root / "tiles.json").read_text())
    buffered = box(-BUFFER, -BUFFER, EXTENT + BUFFER, EXTENT + BUFFER)
    # Polygons are clipped one unit inside the buffer edge (vigie's snap-rounding overlay keeps
    # vertices within one unit), so a sliver thinner than that may be cut away.
    inner = box(-BUFFER + 1, -BUFFER + 1, EXTENT + BUFFER - 1, EXTENT + BUFFER - 1)
    decoded_by_tile = {}
    checked = {"tiles": 0, "features": 0, "points": 0, "lines": 0, "polygons": 0, "seams": 0}

    for t in tiles:
        z, x, y, layers = t["z"], t["x"], t["y"], t["layers"]
        name = f"{z}/{x}/{y}"
        path = root / "tiles" / str(z) / str(x) / f"{y}.mvt"
        data = path.read_bytes() if path.exists() else b""
        decoded = mapbox_vector_tile.decode(data, default_options={"y_coord_down": True}) if data else {}
        decoded_by_tile[(z, x, y)] = decoded
        checked["tiles"] += 1
        if data:
            gdal, error = ogr_counts(path)
            if error:
                fail(f"{path}: {error}")
            mine = {k: len(v["features"]) for k, v in decoded.items()}
            if gdal != mine:
                fail(f"{name}: GDAL sees {gdal}, mapbox-vector-tile sees {mine}")
        for lname in decoded:
            if lname not in layers:
                fail(f"{name}: unexpected layer {lname}")
        project = to_tile(z, x, y)
        for lname in layers:
            layer = decoded.get(lname, {"features": [], "extent": EXTENT})
            if layer["extent"] != EXTENT:
                fail(f"{name}/{lname}: extent {layer['extent']}")
            got = {}
            for f in layer["features"]:
                if f["id"] in got:
                    fail(f"{name}/{lname}: feature {f['id']} twice")
                got[f["id"]] = f
            must, may = set(), set()
            exact = {}
            if z < minzoom.get(lname, 0):
                if layer["features"]:
                    fail(f"{name}/{lname}: features below the layer's minzoom {minzoom[lname]}")
                continue
            for fid, geom in sources.get(lname, {}).items():
                g = transform(project, geom)
                if not g.intersects(buffered):
                    continue
                clipped = g.intersection(buffered)
                exact[fid] = (g, clipped)
                if g.geom_type == "Point":
                    must.add(fid)
                elif g.geom_type in ("LineString", "MultiLineString"):
                    (must if clipped.length >= 2 else may).add(fid)
                else:
                    (must if g.intersection(inner).area >= 4 else may).add(fid)
            missing = must - set(got)
            extra = set(got) - must - may
            if missing:
                fail(f"{name}/{lname}: {len(missing)} features missing, e.g. {sorted(missing)[:5]}")
            if extra:
                fail(f"{name}/{lname}: {len(extra)} features that do not meet the tile, e.g. {sorted(extra)[:5]}")
            for fid, f in got.items():
                checked["features"] += 1
                if fid not in exact:
                    continue
                g, clipped = exact[fid]
                dg = decoded_geometry(f["geometry"])
                xs = [c for part in _coords(dg) for c in part]
                if any(not (-BUFFER <= cx <= EXTENT + BUFFER and -BUFFER <= cy <= EXTENT + BUFFER) for cx, cy in xs):
                    fail(f"{name}/{lname}/{fid}: vertex outside the buffered tile")
                if g.geom_type == "Point":
                    checked["points"] += 1
                    if dg.distance(g) > 1.0:
                        fail(f"{name}/{lname}/{fid}: point at {dg.wkt}, expected {g.wkt}")
                elif g.geom_type in ("LineString", "MultiLineString"):
                    checked["lines"] += 1
                    if dg.hausdorff_distance(clipped) > 1.5:
                        fail(f"{name}/{lname}/{fid}: line {dg.hausdorff_distance(clipped):.2f} units from the exact clip")
                else:
                    checked["polygons"] += 1
                    winding = check_winding(f["geometry"])
                    if winding:
                        fail(f"{name}/{lname}/{fid}: {winding}")
                    if not dg.is_valid:
                        fail(f"{name}/{lname}/{fid}: invalid polygon: {explain_validity(dg)}")
                        continue
                    perimeter = clipped.length
                    if abs(dg.area - clipped.area) > perimeter * 1.0 + 4:
                        fail(f"{name}/{lname}/{fid}: area {dg.area:.0f}, exact clip {clipped.area:.0f}")

    # Seams: horizontally or vertically adjacent tiles of the same zoom.
    keys = set(decoded_by_tile)
    for (z, x, y) in sorted(keys):
        for dx, dy in ((1, 0), (0, 1)):
            other = (z, x + dx, y + dy)
            if other not in keys:
                continue
            a, b = decoded_by_tile[(z, x, y)], decoded_by_tile[other]
            for lname in set(a) & set(b):
                fa = {f["id"]: f for f in a[lname]["features"] if f["geometry"]["type"] in ("Polygon", "MultiPolygon")}
                fb = {f["id"]: f for f in b[lname]["features"] if f["geometry"]["type"] in ("Polygon", "MultiPolygon")}
                for fid in set(fa) & set(fb):
                    pa = decoded_geometry(fa[fid]["geometry"]).intersection(box(0, 0, EXTENT, EXTENT))
                    pb = decoded_geometry(fb[fid]["geometry"]).intersection(box(0, 0, EXTENT, EXTENT))
                    pb = transform(lambda c: c + np.array([dx * EXTENT, dy * EXTENT]), pb)
                    joined = unary_union([pa, pb])
                    src = transform(to_tile(z, x, y), sources[lname][fid]).intersection(
                        box(0, 0, EXTENT * (1 + dx), EXTENT * (1 + dy))
                    )
                    if src.area < 100:
                        continue
                    checked["seams"] += 1
                    parts = lambda g: len(g.geoms) if isinstance(g, MultiPolygon) else 1
                    if parts(joined) != parts(src):
                        fail(
                            f"seam {z}/{x}/{y}+({dx},{dy}) {lname}/{fid}: halves join into {parts(joined)} parts, source has {parts(src)}"
                        )
                    diff = joined.symmetric_difference(src).area
                    if diff > 0.01 * src.area + src.length:
                        fail(f"seam {z}/{x}/{y}+({dx},{dy}) {lname}/{fid}: joined halves differ from the source by {diff:.0f} units²")

    print(json.dumps(checked))
    if checked["seams"] == 0:
        fail("no polygon crossed a seam between the tiles given: the seam check checked nothing")
    for kind in ("points", "lines", "polygons"):
        if checked[kind] == 0:
            fail(f"no {kind} were checked")
    if failures:
        print(f"{len(failures)} failure(s):")
        for f in failures[:200]:
            print(" -", f)
        sys.exit(1)


def signed_area(ring):
    """Surveyor's formula in tile coordinates (y down), as MVT 2.1 section 4.3.4.4 states it."""
    return sum(ring[i][0] * ring[i + 1][1] - ring[i + 1][0] * ring[i][1] for i in range(len(ring) - 1)) / 2


def check_winding(g):
    """MVT 2.1: exterior rings have positive area, interior rings negative. The decoder keeps
    each ring's vertex order, so the rule can be read off its output."""
    polygons = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
    for rings in polygons:
        for i, ring in enumerate(rings):
            a = signed_area(ring)
            if (i == 0 and a <= 0) or (i > 0 and a >= 0):
                return f"ring {i} has signed area {a} ({'exterior' if i == 0 else 'interior'} rings must be {'positive' if i == 0 else 'negative'})"
    return None


def _coords(g):
    if g.is_empty:
        return []
    if hasattr(g, "geoms"):
        return [c for part in g.geoms for c in _coords(part)]
    if isinstance(g, Polygon):
        return [list(g.exterior.coords)] + [list(r.coords) for r in g.interiors]
    return [list(g.coords)]


if __name__ == "__main__":
    main(sys.argv[1])
