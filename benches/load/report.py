#!/usr/bin/env python3
"""Turns the load benchmark's results.tsv (benches/load/run.sh) into Markdown tables:
requests/s and p50/p99 by server, pass, zoom band and connections; errors; bytes per tile;
resident memory; the ratios vigie/Martin and the issue's targets.

Usage: report.py results.tsv [bytes.txt]
"""
import csv
import sys
from collections import defaultdict

BANDS = ["z8-11", "z12-14", "z15-16"]


def main():
    rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
    body = {}
    if len(sys.argv) > 2:
        for line in open(sys.argv[2]):
            _, name, *parts = line.split()
            body[name] = dict(p.split("=") for p in parts)
    by = {(r["server"], r["pass"], int(r["conns"]), r["band"]): r for r in rows}
    servers = list(dict.fromkeys(r["server"] for r in rows))
    conns = sorted({int(r["conns"]) for r in rows})
    passes = list(dict.fromkeys(r["pass"] for r in rows))

    def table(title, p, cell):
        """One row per server and band, one column per connection count; `cell(row)` formats a
        results row, or returns None for an empty cell; rows without any cell are left out."""
        print(f"\n### {title}\n")
        print("| server | band | " + " | ".join(f"{c} conn." for c in conns) + " |")
        print("|---|---|" + "---:|" * len(conns))
        for s in servers:
            for b in BANDS:
                cells = [(cell(by[(s, p, c, b)]) if (s, p, c, b) in by else None) or "—" for c in conns]
                if any(c != "—" for c in cells):
                    print(f"| {s} | {b} | " + " | ".join(cells) + " |")

    def speed(r):
        err = f", **{r['errors']} errors**" if int(r["errors"]) else ""
        return f"{float(r['rps']):.1f}/s, {float(r['p50_ms']):.1f} / {float(r['p99_ms']):.1f}{err}"

    def renders(r):
        if not r.get("renders") or not int(r.get("distinct") or 0):
            return None
        return f"{int(r['renders']) / int(r['distinct']):.2f} ({r['renders']} / {r['distinct']})"

    for p in passes:
        table(f"{p} pass: requests/s, p50 / p99 (ms), errors", p, speed)
    if "shared" in passes:
        table("shared pass: renders per distinct tile (every connection on the same trace, cold cache)", "shared", renders)

    print("\n### Ratios vigie / Martin (requests/s; p99 of vigie in brackets)\n")
    print("| pass | server | band | " + " | ".join(f"{c} conn." for c in conns) + " |")
    print("|---|---|---|" + "---:|" * len(conns))
    for p in passes:
        for s in [s for s in servers if s.startswith("vigie")]:
            for b in BANDS:
                cells = []
                for c in conns:
                    v, m = by.get((s, p, c, b)), by.get(("martin", p, c, b))
                    if not v or not m or float(m["rps"]) == 0:
                        cells.append("—")
                    else:
                        cells.append(f"{float(v['rps']) / float(m['rps']):.1f}× ({float(v['p99_ms']):.1f} ms)")
                print(f"| {p} | {s} | {b} | " + " | ".join(cells) + " |")

    print("\n### Bytes per tile and memory\n")
    print("| server | mean tile body z12-14 (check sample) | bytes per response (wrk, z12-14, incl. headers) | peak RSS (VmHWM) |")
    print("|---|---:|---:|---:|")
    hwm = defaultdict(int)
    per_resp = {}
    for r in rows:
        hwm[r["server"]] = max(hwm[r["server"]], int(r["hwm_mib"]))
        if r["band"] == "z12-14" and r["pass"] == "cold" and int(r["requests"]):
            per_resp[r["server"]] = r["bytes_per_response"]
    for s in servers:
        b = body.get(s, {}).get("z12-14", "—")
        print(f"| {s} | {b} | {per_resp.get(s, '—')} | {hwm[s] or '—'} MiB |")

    print("\n### Targets (issue 8)\n")
    for c in (8, 64):
        v, m = by.get(("vigie-mem", "cold", c, "z12-14")), by.get(("martin", "cold", c, "z12-14"))
        if v and m and float(m["rps"]):
            ratio = float(v["rps"]) / float(m["rps"])
            print(f"- cold z12-14, {c} connections: vigie {float(v['rps']):.0f}/s vs Martin {float(m['rps']):.1f}/s = "
                  f"{ratio:.1f}× (target ≥ 20×: {'met' if ratio >= 20 else 'NOT met'}); vigie p99 "
                  f"{float(v['p99_ms']):.1f} ms (target < 50 ms: {'met' if float(v['p99_ms']) < 50 else 'NOT met'})")
        v, m = by.get(("vigie-mem", "warm", c, "z12-14")), by.get(("martin", "warm", c, "z12-14"))
        if v and m and float(m["rps"]):
            ratio = float(v["rps"]) / float(m["rps"])
            print(f"- warm (cached) z12-14, {c} connections: vigie {float(v['rps']):.0f}/s vs Martin "
                  f"{float(m['rps']):.0f}/s = {ratio:.2f}× (target ≥ 1×: {'met' if ratio >= 1 else 'NOT met'})")


if __name__ == "__main__":
    main()
