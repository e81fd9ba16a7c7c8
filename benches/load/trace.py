#!/usr/bin/env python3
"""Records the load benchmark's tile trace: a 1280x800 map (512-pixel vector tiles, as MapLibre
requests them) flying over Ile-de-France from z8 to z16, the way an analyst follows the day's
venues: the region, then Stade de France, the Champ de Mars, Concorde, Bercy, Roland-Garros,
La Defense, Versailles, Saint-Quentin, Vaires-sur-Marne, Le Bourget, and back out.

Each keyframe is reached in STEPS animation frames (centre interpolated in Web Mercator, zoom
linearly); each frame needs the tiles covering the viewport at zoom floor(map zoom). A browser
keeps what it loaded, so the trace holds each tile once, in the order the map first needed it.

Usage: benches/load/trace.py > benches/load/trace.txt     (one "z/x/y" per line)
The output is committed: every run of the benchmark replays the same recorded trace.
"""
import math

WIDTH, HEIGHT, TILE = 1280, 800, 512
STEPS = 8

# (longitude, latitude, zoom) — the flight's keyframes.
KEYFRAMES = [
    (2.35, 48.85, 8.0),  # Ile-de-France
    (2.35, 48.86, 9.5),
    (2.36, 48.90, 11.0),
    (2.3601, 48.9245, 13.0),  # Stade de France
    (2.3601, 48.9245, 15.0),
    (2.3601, 48.9245, 16.4),
    (2.3570, 48.9170, 16.4),
    (2.3601, 48.9245, 14.0),
    (2.3600, 48.8990, 14.0),  # Porte de la Chapelle
    (2.3212, 48.8656, 14.5),  # Concorde
    (2.3212, 48.8656, 16.2),
    (2.3125, 48.8566, 16.2),  # Invalides
    (2.2945, 48.8584, 15.5),  # Champ de Mars, Eiffel Tower
    (2.2945, 48.8584, 16.8),
    (2.2890, 48.8620, 16.8),  # Trocadero
    (2.2945, 48.8584, 13.0),
    (2.3786, 48.8386, 13.5),  # Bercy Arena
    (2.3786, 48.8386, 15.8),
    (2.3786, 48.8386, 12.5),
    (2.2530, 48.8440, 13.5),  # Roland-Garros, Parc des Princes
    (2.2530, 48.8440, 15.5),
    (2.2290, 48.8957, 14.5),  # La Defense Arena
    (2.2290, 48.8957, 12.0),
    (2.1204, 48.8049, 12.5),  # Versailles
    (2.1204, 48.8049, 14.8),
    (2.0390, 48.7880, 13.5),  # Saint-Quentin-en-Yvelines velodrome
    (1.9590, 48.7640, 14.0),  # Elancourt hill
    (2.1000, 48.8200, 10.5),
    (2.6240, 48.8670, 12.5),  # Vaires-sur-Marne nautical stadium
    (2.6240, 48.8670, 15.0),
    (2.4230, 48.9335, 13.0),  # Le Bourget climbing venue
    (2.4230, 48.9335, 15.5),
    (2.35, 48.86, 11.0),
    (2.35, 48.85, 8.5),  # back to the region
]


def mercator(lon, lat):
    """Fraction of the world (0..1) east and south of the top-left corner."""
    x = (lon + 180.0) / 360.0
    s = math.sin(math.radians(lat))
    y = 0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)
    return x, y


def viewport_tiles(fx, fy, zoom):
    tz = max(8, min(16, math.floor(zoom)))
    world = TILE * 2.0**zoom  # the world's width in screen pixels at this zoom
    tile_px = world / 2**tz
    cx, cy = fx * world, fy * world
    x0, x1 = math.floor((cx - WIDTH / 2) / tile_px), math.floor((cx + WIDTH / 2) / tile_px)
    y0, y1 = math.floor((cy - HEIGHT / 2) / tile_px), math.floor((cy + HEIGHT / 2) / tile_px)
    # Centre first, as MapLibre orders its requests.
    tiles = [(tz, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
    ccx, ccy = cx / tile_px, cy / tile_px
    tiles.sort(key=lambda t: (t[1] + 0.5 - ccx) ** 2 + (t[2] + 0.5 - ccy) ** 2)
    return tiles


def main():
    seen, order = set(), []
    frames = []
    for (lon0, lat0, z0), (lon1, lat1, z1) in zip(KEYFRAMES, KEYFRAMES[1:]):
        (ax, ay), (bx, by) = mercator(lon0, lat0), mercator(lon1, lat1)
        for i in range(STEPS + 1):
            t = i / STEPS
            frames.append((ax + (bx - ax) * t, ay + (by - ay) * t, z0 + (z1 - z0) * t))
    for fx, fy, zoom in frames:
        for tile in viewport_tiles(fx, fy, zoom):
            if tile not in seen:
                seen.add(tile)
                order.append(tile)
    for z, x, y in order:
        print(f"{z}/{x}/{y}")


if __name__ == "__main__":
    main()
