"""Compares vigie tiles with PostGIS ST_AsMVT tiles of the same features.

Usage: compare_postgis.py DIR   (DIR holds Z-X-Y.vigie.mvt and Z-X-Y.postgis.mvt pairs)

Both are decoded with mapbox-vector-tile. Per layer: the same feature ids (PostGIS may keep a
polygon that snapping reduces to nothing and vigie drops, and vice versa, only when its area is
under 2 square units); points within one unit; lines and polygon outlines within one unit
(Hausdorff distance, after dropping the buffer strip both clip differently); polygon areas
within one unit times the perimeter. Prints the largest differences seen; exits 1 on failure.
"""

import json
import sys
from pathlib import Path

import mapbox_vector_tile
from shapely.geometry import box, shape

failures = []
worst = {"point": 0.0, "line": 0.0, "polygon": 0.0, "area_ratio": 0.0}
counts = {"tiles": 0, "features": 0}
TILE = box(0, 0, 4096, 4096)


def decode(path):
    data = path.read_bytes()
    if not data:
        return {}
    return mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})


def main(root):
    root = Path(root)
    for ours_path in sorted(root.glob("*.vigie.mvt")):
        name = ours_path.name.replace(".vigie.mvt", "")
        ours = decode(ours_path)
        theirs = decode(root / f"{name}.postgis.mvt")
        counts["tiles"] += 1
        for layer in sorted(set(ours) | set(theirs)):
            a = {f["id"]: shape(f["geometry"]) for f in ours.get(layer, {}).get("features", [])}
            b = {f["id"]: shape(f["geometry"]) for f in theirs.get(layer, {}).get("features", [])}
            for fid in set(a) ^ set(b):
                g = a.get(fid) or b.get(fid)
                if g.geom_type.endswith("Polygon") and g.area < 2:
                    continue
                side = "vigie" if fid in a else "PostGIS"
                fail(f"{name}/{layer}: feature {fid} only in {side} ({g.geom_type}, area {g.area:.1f})")
            if len(a) != len(b):
                print(f"note: {name}/{layer}: vigie {len(a)} features, PostGIS {len(b)}")
            for fid in set(a) & set(b):
                counts["features"] += 1
                ga, gb = a[fid], b[fid]
                kind = "point" if "Point" in ga.geom_type else "line" if "Line" in ga.geom_type else "polygon"
                if kind == "polygon":
                    # Inside the tile proper both clip nothing: compare there.
                    ga_in, gb_in = ga.intersection(TILE), gb.intersection(TILE)
                    d = ga_in.boundary.hausdorff_distance(gb_in.boundary) if not ga_in.is_empty and not gb_in.is_empty else 0.0
                    ratio = abs(ga.area - gb.area) / max(gb.area, 1.0)
                    worst["area_ratio"] = max(worst["area_ratio"], ratio)
                    if abs(ga.area - gb.area) > gb.length * 1.0 + 2:
                        fail(f"{name}/{layer}/{fid}: area {ga.area:.0f} vs PostGIS {gb.area:.0f}")
                else:
                    d = ga.hausdorff_distance(gb)
                worst[kind] = max(worst[kind], d)
                if d > 1.0 + 1e-9:
                    fail(f"{name}/{layer}/{fid}: {kind} {d:.2f} units from PostGIS")
    print(json.dumps({**counts, "worst": worst}))
    if counts["features"] == 0:
        fail("nothing compared")
    if failures:
        print(f"{len(failures)} failure(s):")
        for f in failures[:100]:
            print(" -", f)
        sys.exit(1)


def fail(msg):
    failures.append(msg)


if __name__ == "__main__":
    main(sys.argv[1])
