#!/usr/bin/env bash
# Generates the import benchmark inputs (deterministic, no network):
#   points-1m.csv       1 000 000 points, `;`-separated, French-style: decimal commas on even
#                       rows and points on odd rows, a code with leading zeros, a date, a label
#                       (about 60 MB)
#   features-100mb.geojson  a FeatureCollection of about 100 MB: points with six properties, and
#                       one small polygon every tenth feature
#
# Usage: benches/import-data.sh [DIR]   (default: target/bench-data; files already there are kept)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${1:-$root/target/bench-data}
mkdir -p "$dir"

if [[ ! -s $dir/points-1m.csv ]]; then
    awk 'BEGIN {
        srand(2024);
        print "code;nom;categorie;date;latitude;longitude";
        for (i = 1; i <= 1000000; i++) {
            lat = 42.5 + rand() * 8.5; lon = -4.5 + rand() * 12.0;
            if (i % 2 == 0) { la = sprintf("%.6f", lat); lo = sprintf("%.6f", lon); sub(/\./, ",", la); sub(/\./, ",", lo) }
            else { la = sprintf("%.6f", lat); lo = sprintf("%.6f", lon) }
            printf "%07d;site %d;cat-%d;2024-%02d-%02d;%s;%s\n", i, i, i % 12, 1 + i % 12, 1 + i % 28, la, lo
        }
    }' > "$dir/points-1m.csv.tmp"
    mv "$dir/points-1m.csv.tmp" "$dir/points-1m.csv"
fi

if [[ ! -s $dir/features-100mb.geojson ]]; then
    awk 'BEGIN {
        srand(93);
        printf "{\"type\":\"FeatureCollection\",\"name\":\"bench\",\"features\":[\n";
        n = 0; bytes = 0;
        while (bytes < 100 * 1024 * 1024) {
            n++;
            x = -4.5 + rand() * 12.0; y = 42.5 + rand() * 8.5;
            if (n % 10 == 0) {
                d = 0.001 + rand() * 0.01;
                g = sprintf("{\"type\":\"Polygon\",\"coordinates\":[[[%.6f,%.6f],[%.6f,%.6f],[%.6f,%.6f],[%.6f,%.6f],[%.6f,%.6f]]]}", x, y, x + d, y, x + d, y + d, x, y + d, x, y)
            } else {
                g = sprintf("{\"type\":\"Point\",\"coordinates\":[%.6f,%.6f]}", x, y)
            }
            line = sprintf("%s{\"type\":\"Feature\",\"properties\":{\"id\":%d,\"code\":\"%05d\",\"nom\":\"objet %d\",\"niveau\":%d,\"valeur\":%.3f,\"date\":\"2024-07-%02d\"},\"geometry\":%s}\n", (n > 1 ? "," : ""), n, n % 100000, n, n % 5, rand() * 1000, 1 + n % 28, g);
            printf "%s", line;
            bytes += length(line);
        }
        printf "]}\n";
    }' > "$dir/features-100mb.geojson.tmp"
    mv "$dir/features-100mb.geojson.tmp" "$dir/features-100mb.geojson"
fi

ls -l "$dir"/points-1m.csv "$dir"/features-100mb.geojson
