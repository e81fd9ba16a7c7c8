"""Checks vigie's thinned (clustered) tiles with decoders vigie did not write.

Usage: check_clusters.py DIR

DIR holds (written by the Rust end-to-end test tests/e2e/budgets.rs):
  source.geojson        the features the layer must count (WGS84, properties `severity` and
                        `themes`, a list of the catalog themes among the entry's tags)
  tiles.json            {"layer": name, "themes": [ids], "tiles": [{"z","x","y","file","raw"}]}
  <file>                each tile as served; "raw" names the same tile asked with budget=off

For every tile, independently of vigie's code (own Web Mercator and quadkey maths):
  - mapbox-vector-tile and GDAL's MVT driver (ogrinfo) both read it, with the same count;
  - every feature is a point with `point_count`; its id is a grid cell (a quadkey below a
    leading 1) inside the tile, holding the cluster's point;
  - each cluster's `point_count`, `max_severity` and `n_<theme>` are those of the source
    features in its cell: a point in the cell (half-open), a line or polygon whose box centre
    falls in it, the centre brought into the tile when it lies outside (box meeting the tile);
  - the counts add up to the source features of the tile; the raw tile holds more features
    than the clustered one and no `point_count`.
Prints a summary; exits 1 with every failure listed.
"""

import json
import math
import sys
from pathlib import Path

import mapbox_vector_tile

from tilecheck import ORIGIN, mercator, ogr_counts

failures = []


def fail(msg):
    failures.append(msg)


def cell_of(mx, my, level):
    n = 1 << level
    cx = math.floor((mx + ORIGIN) / (2 * ORIGIN) * n)
    cy = math.floor((ORIGIN - my) / (2 * ORIGIN) * n)
    return min(max(cx, 0), n - 1), min(max(cy, 0), n - 1)


def decode_id(i):
    """(level, x, y) of a cell id: the base-4 digits after the leading 1, x in the low bit."""
    bits = i.bit_length() - 1
    if i <= 0 or bits % 2:
        return None
    level = bits // 2
    x = y = 0
    for d in range(level):
        digit = (i >> (2 * (level - 1 - d))) & 3
        x = (x << 1) | (digit & 1)
        y = (y << 1) | (digit >> 1)
    return level, x, y


def source_members(features):
    """Each source feature: (mercator box, is point, severity, themes)."""
    out = []
    for f in features:
        g = f["geometry"]

        def coords(c):
            if isinstance(c[0], (int, float)):
                yield c
            else:
                for part in c:
                    yield from coords(part)

        pts = [mercator(lon, lat) for lon, lat in coords(g["coordinates"])]
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        out.append(((min(xs), min(ys), max(xs), max(ys)), g["type"] == "Point",
                    f["properties"].get("severity"), f["properties"].get("themes", [])))
    return out


def members_of_tile(members, z, x, y, level):
    """The source features a tile's clusters count, each with its cell at `level`."""
    size = 2 * ORIGIN / (1 << z)
    minx, maxy = -ORIGIN + x * size, ORIGIN - y * size
    maxx, miny = minx + size, maxy - size
    k = level - z
    lo_x, lo_y = x << k, y << k
    hi_x, hi_y = lo_x + (1 << k) - 1, lo_y + (1 << k) - 1
    out = []
    for (bx0, by0, bx1, by1), point, sev, themes in members:
        cx, cy = cell_of((bx0 + bx1) / 2, (by0 + by1) / 2, level)
        if point:
            if not (lo_x <= cx <= hi_x and lo_y <= cy <= hi_y):
                continue
        else:
            if bx1 < minx or bx0 > maxx or by1 < miny or by0 > maxy:
                continue
            cx, cy = min(max(cx, lo_x), hi_x), min(max(cy, lo_y), hi_y)
        out.append((cx, cy, sev, themes))
    return out


def main():
    root = Path(sys.argv[1])
    spec = json.loads((root / "tiles.json").read_text())
    layer, themes = spec["layer"], spec["themes"]
    members = source_members(json.loads((root / "source.geojson").read_text())["features"])
    clusters_seen = 0
    for t in spec["tiles"]:
        z, x, y = t["z"], t["x"], t["y"]
        name = f"{z}/{x}/{y}"
        data = (root / t["file"]).read_bytes()
        decoded = mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})
        feats = decoded.get(layer, {}).get("features", [])
        if not feats:
            fail(f"{name}: no {layer} features")
            continue
        gdal, error = ogr_counts(root / t["file"])
        if error:
            fail(f"{name}: {error}")
        elif gdal.get(layer) != len(feats):
            fail(f"{name}: GDAL reads {gdal.get(layer)} features, mapbox-vector-tile {len(feats)}")
        levels = set()
        total = 0
        for f in feats:
            props, geom = f["properties"], f["geometry"]
            if geom["type"] != "Point" or "point_count" not in props:
                fail(f"{name}: feature {f.get('id')} is not a cluster point: {geom['type']} {props}")
                continue
            cell = decode_id(f["id"])
            if cell is None:
                fail(f"{name}: id {f['id']} is no cell")
                continue
            level, cx, cy = cell
            k = level - z
            levels.add(level)
            if k < 0 or (cx >> k, cy >> k) != (x, y):
                fail(f"{name}: cluster {f['id']} names cell {level}/{cx}/{cy}, outside the tile")
                continue
            # Its point (tile units, y down) within its cell, one unit of rounding either way.
            unit = 4096 >> k
            px, py = geom["coordinates"]
            lx, ly = cx - (x << k), cy - (y << k)
            if not (lx * unit - 1 <= px <= (lx + 1) * unit and ly * unit - 1 <= py <= (ly + 1) * unit):
                fail(f"{name}: cluster {f['id']} at {px},{py} is outside its cell {lx},{ly} ({unit} units)")
            total += props["point_count"]
        if len(levels) != 1:
            fail(f"{name}: clusters of several grids {sorted(levels)}")
            continue
        level = levels.pop()
        expected = {}
        for cx, cy, sev, ths in members_of_tile(members, z, x, y, level):
            e = expected.setdefault((cx, cy), {"point_count": 0, "max_severity": None})
            e["point_count"] += 1
            if sev is not None:
                e["max_severity"] = sev if e["max_severity"] is None else max(e["max_severity"], sev)
            for th in ths:
                e[f"n_{th}"] = e.get(f"n_{th}", 0) + 1
        got = {}
        for f in feats:
            _, cx, cy = decode_id(f["id"])
            props = {k: v for k, v in f["properties"].items() if k == "point_count" or k == "max_severity" or k.startswith("n_")}
            props.setdefault("max_severity", None)
            got[(cx, cy)] = props
        if set(got) != set(expected):
            fail(f"{name}: clusters in cells {len(got)}, source features in {len(expected)} cells "
                 f"(only in tile: {sorted(set(got) - set(expected))[:3]}, only in source: {sorted(set(expected) - set(got))[:3]})")
        for c in set(got) & set(expected):
            if got[c] != expected[c]:
                fail(f"{name}: cell {c}: tile {got[c]} != source {expected[c]}")
        if total != sum(e["point_count"] for e in expected.values()):
            fail(f"{name}: point_count adds up to {total}, the tile has {sum(e['point_count'] for e in expected.values())} source features")
        raw = mapbox_vector_tile.decode((root / t["raw"]).read_bytes()).get(layer, {}).get("features", [])
        if len(raw) <= len(feats) or any("point_count" in f["properties"] for f in raw):
            fail(f"{name}: the raw tile holds {len(raw)} features, the clustered one {len(feats)}")
        clusters_seen += len(feats)
        unknown = [k for f in feats for k in f["properties"] if k.startswith("n_") and k[2:] not in themes]
        if unknown:
            fail(f"{name}: counts of unknown themes {sorted(set(unknown))}")
    print(f"check_clusters: {len(spec['tiles'])} tiles, {clusters_seen} clusters checked against the source")
    if failures:
        print("\n".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
