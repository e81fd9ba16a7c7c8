#!/usr/bin/env python3
"""Same-features check of the load benchmark (benches/load/run.sh): the comparison is void
unless every server sends the same features for the same tile.

Usage: check.py TRACE EVERY NAME=URL_TEMPLATE:LAYER ...
  TRACE   the recorded trace (one z/x/y per line)
  EVERY   check every EVERY-th tile of the trace, zoom 10 and above (z8-z9 tiles hold most
          of the million points: they are served in the load runs, decoding them here would
          take minutes)
  URL_TEMPLATE holds {z}, {x}, {y}; LAYER is the MVT layer to read in that server's tiles.

Tiles are decoded with the protobuf classes shipped by the Python `mapbox-vector-tile` package
(Google protobuf with the MVT 2.1 schema), not with anything of vigie's. For each tile: the set
of feature ids must be equal across servers, and the properties of up to 200 features equal.
Prints, per server, the mean body size per tile by zoom band; exits 1 on any difference.
"""
import sys
import urllib.request

from mapbox_vector_tile.Mapbox import vector_tile_pb2

BANDS = [("z8-11", 8, 11), ("z12-14", 12, 14), ("z15-16", 15, 16)]


def band(z):
    return next(name for name, lo, hi in BANDS if lo <= z <= hi)


def fetch(url):
    with urllib.request.urlopen(url, timeout=600) as r:
        return r.read() if r.status in (None, 200) else b""  # file:// answers have no status


def value(v):
    (field, x), = v.ListFields()  # proto2: exactly one of the typed fields is set
    return float(x) if field.name in ("float_value", "double_value") else x


def features(data, layer_name):
    tile = vector_tile_pb2.tile()
    tile.ParseFromString(data)
    for layer in tile.layers:
        if layer.name == layer_name:
            keys, values = list(layer.keys), [value(v) for v in layer.values]
            out = {}
            for f in layer.features:
                tags = f.tags
                out[f.id] = {keys[tags[i]]: values[tags[i + 1]] for i in range(0, len(tags), 2)}
            return out, layer.extent
    return {}, 4096


def main():
    trace, every, servers = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    servers = [(s.split("=", 1)[0], *s.split("=", 1)[1].rsplit(":", 1)) for s in servers]
    tiles = [tuple(map(int, l.split("/"))) for l in open(trace) if l.strip()]
    sample = [t for t in tiles if t[0] >= 10][::every]
    sizes = {name: {} for name, _, _ in servers}
    bad = 0
    total_features = 0
    for z, x, y in sample:
        got = []
        for name, template, layer in servers:
            data = fetch(template.format(z=z, x=x, y=y))
            sizes[name].setdefault(band(z), []).append(len(data))
            feats, extent = features(data, layer) if data else ({}, 4096)
            if extent != 4096:
                print(f"{name} {z}/{x}/{y}: extent {extent}, not 4096")
                bad += 1
            got.append((name, feats))
        ref_name, ref = got[0]
        total_features += len(ref)
        for name, feats in got[1:]:
            if set(feats) != set(ref):
                only_a, only_b = set(ref) - set(feats), set(feats) - set(ref)
                print(f"{z}/{x}/{y}: {ref_name} {len(ref)} features, {name} {len(feats)}; "
                      f"only in {ref_name}: {sorted(only_a)[:5]}, only in {name}: {sorted(only_b)[:5]}")
                bad += 1
                continue
            for fid in sorted(ref)[:200]:
                a, b = ref[fid], feats[fid]
                if a != b:
                    print(f"{z}/{x}/{y} feature {fid}: {ref_name} {a} != {name} {b}")
                    bad += 1
                    break
    print(f"same-features check: {len(sample)} tiles, {total_features} features per server, "
          f"{bad} difference(s)")
    for name, by_band in sizes.items():
        parts = [f"{b} {sum(v) / len(v) / 1024:.1f} KiB" for b, v in sorted(by_band.items())]
        print(f"BYTES {name} " + " ".join(f"{b}={sum(v) / len(v):.0f}" for b, v in sorted(by_band.items())))
        print(f"  {name}: mean tile body " + ", ".join(parts))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
