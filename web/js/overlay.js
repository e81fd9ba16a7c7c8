// The page's own drawings (region outline, polygon being drawn, selected feature, where a new
// entry goes), kept in one local GeoJSON source: no network, redrawn on every change.

import { OVERLAY_ID } from './style.js';

/** An overlay store bound to a map: `set(role, features)` replaces that role's features. */
export function createOverlay(map) {
  const byRole = new Map();
  const data = () => ({
    type: 'FeatureCollection',
    features: [...byRole.entries()].flatMap(([role, fs]) =>
      fs.map((f) => ({ type: 'Feature', geometry: f.geometry ?? f, properties: { ...(f.properties || {}), role } })),
    ),
  });
  return {
    /** Replaces the features (GeoJSON geometries or features) drawn for a role. */
    set(role, features) {
      if (!features || !features.length) byRole.delete(role);
      else byRole.set(role, features);
      map.getSource(OVERLAY_ID)?.setData(data());
    },
    /** The current FeatureCollection (to carry over a style change). */
    data,
  };
}

const EARTH_RADIUS_M = 6_371_008.8;
const rad = (d) => (d * Math.PI) / 180;
const deg = (r) => (r * 180) / Math.PI;

/** Great-circle distance between two [lon, lat] positions, metres. */
export function distanceM(a, b) {
  const dLat = rad(b[1] - a[1]);
  const dLon = rad(b[0] - a[0]);
  const s = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a[1])) * Math.cos(rad(b[1])) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(s)));
}

/** A circle as a closed GeoJSON Polygon of `steps` vertices. */
export function circlePolygon(center, radiusM, steps = 64) {
  const [lon, lat] = center.map(rad);
  const d = radiusM / EARTH_RADIUS_M;
  const ring = [];
  for (let i = 0; i <= steps; i += 1) {
    const b = (2 * Math.PI * (i % steps)) / steps;
    const lat2 = Math.asin(Math.sin(lat) * Math.cos(d) + Math.cos(lat) * Math.sin(d) * Math.cos(b));
    const lon2 = lon + Math.atan2(Math.sin(b) * Math.sin(d) * Math.cos(lat), Math.cos(d) - Math.sin(lat) * Math.sin(lat2));
    ring.push([deg(lon2), deg(lat2)]);
  }
  return { type: 'Polygon', coordinates: [ring] };
}

/** A representative [lon, lat] of a GeoJSON geometry (a vertex average; enough to aim at). */
export function representativePoint(geometry) {
  if (!geometry) return null;
  const pts = [];
  const walk = (c) => {
    if (typeof c[0] === 'number') pts.push(c);
    else c.forEach(walk);
  };
  if (geometry.type === 'Point') return geometry.coordinates;
  if (geometry.type === 'LineString') return geometry.coordinates[Math.floor(geometry.coordinates.length / 2)];
  walk(geometry.type === 'Polygon' ? geometry.coordinates[0] : geometry.coordinates);
  if (!pts.length) return null;
  const n = geometry.type === 'Polygon' && pts.length > 1 ? pts.length - 1 : pts.length;
  let x = 0;
  let y = 0;
  for (let i = 0; i < n; i += 1) {
    x += pts[i][0];
    y += pts[i][1];
  }
  return [x / n, y / n];
}

/** [west, south, east, north] of a GeoJSON geometry. */
export function geometryBbox(geometry) {
  const b = [Infinity, Infinity, -Infinity, -Infinity];
  const walk = (c) => {
    if (typeof c[0] === 'number') {
      b[0] = Math.min(b[0], c[0]);
      b[1] = Math.min(b[1], c[1]);
      b[2] = Math.max(b[2], c[0]);
      b[3] = Math.max(b[3], c[1]);
    } else c.forEach(walk);
  };
  if (geometry?.coordinates) walk(geometry.coordinates);
  return b;
}
