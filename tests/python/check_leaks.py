"""Decodes the tiles of the territory leak test (tests/e2e/territory_leaks.rs) with
mapbox-vector-tile, a decoder vigie did not write, and prints what each holds as JSON; the
test compares that with PostGIS `ST_Intersects` over the same entries.

Usage: check_leaks.py DIR

DIR holds tiles.json, a list of {"file": relative path, "z", "x", "y"}, and the tiles it
names (only the tiles that were not empty). Prints {"tiles": [{"file", "layers": {name:
[feature, ...]}}]} where a feature is {"id", "type", "point": [x, y] | null, "count": n | null}:
`point` in tile units (y down) for point features, `count` the `count` property (H3 hexagons).
Exits 1 when a tile does not decode or a feature has no id.
"""

import json
import sys
from pathlib import Path

import mapbox_vector_tile


def main():
    d = Path(sys.argv[1])
    out, failures = [], []
    for t in json.loads((d / "tiles.json").read_text()):
        try:
            tile = mapbox_vector_tile.decode((d / t["file"]).read_bytes(), default_options={"y_coord_down": True})
        except Exception as e:  # noqa: BLE001 - any decoding failure is the finding
            failures.append(f"{t['file']}: does not decode: {e}")
            continue
        layers = {}
        for name, layer in tile.items():
            features = []
            for f in layer.get("features", []):
                if f.get("id") is None:
                    failures.append(f"{t['file']}: a feature of layer {name} has no id")
                    continue
                g = f["geometry"]
                point = list(g["coordinates"]) if g["type"] == "Point" else None
                features.append(
                    {"id": f["id"], "type": g["type"], "point": point, "count": f["properties"].get("count")}
                )
            layers[name] = features
        out.append({"file": t["file"], "layers": layers})
    print(json.dumps({"tiles": out}))
    for f in failures[:50]:
        print(f, file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
