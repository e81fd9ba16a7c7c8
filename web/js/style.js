// The map style: the server's own style (/styles/hypervision.json or /styles/wall.json, so
// colours and widths are defined once, in styles/) with its one vector source replaced by a
// composite tile URL listing only the visible layers, plus generated layers for catalog
// layers the style does not draw (the H3 aggregate, the staffing layer, imported datasets, entry
// layers an admin added at run time), the clusters of thinned tiles (a layer over its tile
// budget comes as clusters instead of features) and the page's own overlays (region, drawing,
// selection).
//
// Tile archive layers (kind `pmtiles`, `mbtiles`) never go in the composite source: the server
// refuses a raster archive there, and their layers are the archive's own, not catalog ids. Each
// has a source of its own (`archive-<id>`), drawn at the bottom: the catalog's `basemap` right
// above the background, then the `?basemap=` raster, then the other archive layers, then the
// rest. An archive the server cannot serve now (GET /catalog's `unavailable`: a file not copied
// yet, a remote server down) gets no source and no style layer, so none of its tiles (503) is
// asked, and its TileJSON is not read.

import { WORKSPACE_PREFIX } from './app.js';

/** Catalog layer kinds whose tiles are read from an archive, each drawn from its own source. */
export const ARCHIVE_KINDS = new Set(['pmtiles', 'mbtiles']);
/** Metadata key marking the style layers of the basemap (`true`): the catalog's and `?basemap=`. */
export const BASEMAP_META = 'vigie:basemap';
/** Id of the style layer (and source) of a `?basemap=` raster template. */
export const QUERY_BASEMAP_ID = 'basemap';
/**
 * Paint of the generated layers of a vector archive: a neutral grey drawing under the
 * operational colours (light fills, thin outlines and lines, small dark-grey points).
 */
const ARCHIVE_GREYS = { fill: '#eceff1', outline: '#b0bec5', line: '#9e9e9e', point: '#616161' };

/** Whether a catalog layer is a tile archive (its own source, never in the composite). */
export function isArchive(layer) {
  return ARCHIVE_KINDS.has(layer?.kind);
}

/**
 * Why an archive layer's tiles cannot be served now (GET /catalog's `unavailable`), or null when
 * they can (and for any other layer).
 */
export function unavailableReason(layer) {
  return isArchive(layer) && layer.unavailable ? String(layer.unavailable) : null;
}

/** Whether a catalog layer is a tile archive the page draws: one the server can serve now. */
export function isDrawnArchive(layer) {
  return isArchive(layer) && !unavailableReason(layer);
}

/** Ids of the catalog layers the composite source may carry (all but the archives). */
export function compositeIds(catalog, ids) {
  const archives = new Set(catalog.layers.filter(isArchive).map((l) => l.id));
  return ids.filter((id) => !archives.has(id));
}

/** Id of the source of an archive layer. */
export const archiveSourceId = (id) => `archive-${id}`;

/** Id of the one composite vector source. */
export const SOURCE_ID = 'vigie';
/** Id of the page's local GeoJSON overlay source (no network). */
export const OVERLAY_ID = 'overlay';
/**
 * Zoom where the H3 heat layer hands over to the points: hexagons below it, points from one
 * zoom level before it (the overlap fades one into the other).
 */
export const HEAT_MAX_ZOOM = 11;

const PERIMETER_DEFAULTS = { silt: '#7c3aed', red: '#dc2626', blue: '#2563eb' };

/** Colours of the staffing layer's places, by their `coverage` (the legend shows them too). */
export const STAFFING_COVERAGE = { full: '#16a34a', short: '#dc2626', closed: '#9ca3af' };
/**
 * Prefix of the staffing layer's badge images (`staffing-short-3`: 3 people short). The style
 * has no glyphs to write text with: staffing.js draws each badge when the map asks for it.
 */
export const STAFFING_BADGE = 'staffing-short-';

/**
 * Kinds of catalog layers whose tiles the server may thin into clusters when a tile holds more
 * than the layer's budget (the engine's layers but the H3 ones; table and staffing layers are
 * never thinned).
 */
export const THINNABLE_KINDS = new Set(['entries', 'venues', 'perimeters', 'dataset']);
/**
 * Deepest zoom the page asks tiles for (the server serves them to z24): a thinned layer's
 * clusters keep splitting down to it instead of being overzoomed from the catalog's maxzoom.
 */
export const CLUSTER_SPLIT_ZOOM = 20;
/** Filter of a thinned tile's clusters: a raw feature never has `point_count`. */
export const IS_CLUSTER = ['has', 'point_count'];
/** Filter of a layer's own features (a cluster is never drawn as one). */
export const NOT_CLUSTER = ['!', IS_CLUSTER];
/** Metadata key marking the style layers that draw clusters (`true`). */
export const CLUSTER_META = 'vigie:cluster';
/**
 * Prefix of the cluster count images (`cluster-count-1.2k`): the style has no glyphs to write
 * text with, so clusters.js draws each label when the map asks for it.
 */
export const CLUSTER_LABEL = 'cluster-count-';
/** Colours of a cluster by the worst severity among its features, 0 to 4 (the heat ramp's). */
export const SEVERITY_COLOURS = ['#fde68a', '#fbbf24', '#fb923c', '#dc2626', '#7f1d1d'];
/** Colour of a cluster none of whose features has a severity. */
export const NO_SEVERITY_COLOUR = '#9ca3af';

const CLUSTER_COUNT = ['number', ['get', 'point_count'], 0];
/**
 * A cluster's count as its label shows it: 950, 1.2k, 12k, 3.4M. The thresholds sit where
 * rounding carries over (9 950 is 10k, not 10.0k; 999 500 is 1M, not 1000k).
 */
export const CLUSTER_COUNT_TEXT = [
  'case',
  ['>=', CLUSTER_COUNT, 999_500],
  ['concat', ['to-string', ['/', ['round', ['/', CLUSTER_COUNT, 100_000]], 10]], 'M'],
  ['>=', CLUSTER_COUNT, 9_950],
  ['concat', ['to-string', ['round', ['/', CLUSTER_COUNT, 1_000]]], 'k'],
  ['>=', CLUSTER_COUNT, 1_000],
  ['concat', ['to-string', ['/', ['round', ['/', CLUSTER_COUNT, 100]], 10]], 'k'],
  ['to-string', CLUSTER_COUNT],
];

/** Whether a style layer draws clusters. */
export function isClusterLayer(styleLayer) {
  return styleLayer?.metadata?.[CLUSTER_META] === true;
}

/**
 * Whether a filter is in the legacy syntax (`["==", "kind", "silt"]`), which cannot be
 * combined with an expression inside one `all` (the test of MapLibre's `isExpressionFilter`).
 */
function isLegacyFilter(f) {
  if (!Array.isArray(f) || !f.length) return false;
  const [op, ...args] = f;
  switch (op) {
    case 'all':
    case 'any':
      return args.some(isLegacyFilter);
    case 'none':
    case '!has':
    case '!in':
      return true;
    case 'has':
      return args[0] === '$id' || args[0] === '$type';
    case 'in':
      return typeof args[0] === 'string' && !Array.isArray(args[1]);
    case '==':
    case '!=':
    case '<':
    case '<=':
    case '>':
    case '>=':
      return f.length === 3 && !Array.isArray(args[0]) && !Array.isArray(args[1]);
    default:
      return false;
  }
}

/** A feature layer's filter that also leaves clusters out (kept when it already tests them). */
function withoutClusters(filter) {
  if (!filter) return NOT_CLUSTER;
  if (JSON.stringify(filter).includes('"point_count"')) return filter;
  return ['all', isLegacyFilter(filter) ? ['!has', 'point_count'] : NOT_CLUSTER, filter];
}

/**
 * What every style layer generated for a catalog layer starts with: its source layer, its
 * metadata (`extra` added), its minzoom and its visibility. A new object on each call.
 */
function generatedLayer(layer, visible, extra = {}) {
  return {
    source: SOURCE_ID,
    'source-layer': layer.id,
    metadata: { 'vigie:layer': layer.id, 'vigie:theme': layer.theme, ...extra, 'vigie:generated': true },
    minzoom: layer.minzoom || 0,
    layout: { visibility: visible.has(layer.id) ? 'visible' : 'none' },
  };
}

/**
 * The cluster layers of a catalog layer the server may thin: a circle sized by `point_count`
 * (on a square-root scale: its area grows with the count) and coloured by `max_severity`,
 * ringed in the layer's colour, and the count written over it — over the circles of two
 * features and more (a cluster of one is a dot), the biggest counts first where labels
 * collide. `which` picks them.
 */
export function clusterLayers(layer, colour, mode, visible, which = { circle: true, label: true }) {
  // Radius at 1, 2, 100, 10 000 and 1 000 000 features; the wall's are seen from across the room.
  const r = mode === 'wall' ? [8, 13, 21, 36, 57] : [6, 10, 16, 28, 44];
  const severity = ['number', ['get', 'max_severity'], -1];
  const common = { ...generatedLayer(layer, visible, { [CLUSTER_META]: true }), filter: IS_CLUSTER };
  const { visibility } = common.layout;
  const s = SEVERITY_COLOURS;
  return [
    which.circle && {
      ...common,
      id: `${layer.id}-clusters`,
      type: 'circle',
      // The worst clusters on top.
      layout: { visibility, 'circle-sort-key': severity },
      paint: {
        'circle-color': ['step', severity, NO_SEVERITY_COLOUR, 0, s[0], 1, s[1], 2, s[2], 3, s[3], 4, s[4]],
        'circle-radius': ['interpolate', ['linear'], ['sqrt', CLUSTER_COUNT], 1, r[0], 1.41, r[1], 10, r[2], 100, r[3], 1000, r[4]],
        'circle-opacity': 0.85,
        'circle-stroke-color': colour,
        'circle-stroke-width': mode === 'wall' ? 3 : 2,
      },
    },
    which.label && {
      ...common,
      id: `${layer.id}-cluster-count`,
      type: 'symbol',
      filter: ['all', IS_CLUSTER, ['>', CLUSTER_COUNT, 1]],
      layout: {
        visibility,
        'icon-image': ['concat', CLUSTER_LABEL, CLUSTER_COUNT_TEXT],
        'icon-padding': 0,
        'symbol-sort-key': ['-', CLUSTER_COUNT],
      },
    },
  ].filter(Boolean);
}

/** Fetches the server style for a display mode (through `app.apiFetch`); null if it cannot be read. */
export async function fetchBaseStyle(app, mode) {
  try {
    const r = await app.apiFetch(`/styles/${mode === 'wall' ? 'wall' : 'hypervision'}.json`);
    return r.ok ? await r.json() : null;
  } catch {
    return null;
  }
}

/**
 * The TileJSON of every archive layer of `catalog` the server can serve now, by id (null for one
 * that could not be read: a raster archive is then drawn from the catalog's template alone, a
 * vector one not at all, its layer names being unknown). An unavailable archive is not asked:
 * it is not drawn, and its TileJSON would hold nothing of the archive. Read through
 * `app.apiFetch`, from this origin.
 */
export async function fetchArchives(app, catalog) {
  const read = async (l) => {
    try {
      const r = await app.apiFetch(l.tilejson || `/tiles/${encodeURIComponent(l.id)}`);
      return [l.id, r.ok ? await r.json() : null];
    } catch {
      return [l.id, null];
    }
  };
  return new Map(await Promise.all(catalog.layers.filter(isDrawnArchive).map(read)));
}

/**
 * The composite tile URL: `/tiles/<ids>/{z}/{x}/{y}.mvt?<filters>&rev=<n>`. `rev` is a cache
 * buster the server ignores (not part of its cache key): bumping it makes MapLibre refetch
 * after a live change. Absolute, because MapLibre's worker resolves URLs against its own
 * script URL.
 */
export function tileUrl(ids, filterQs, rev) {
  const qs = [filterQs, `rev=${rev}`].filter(Boolean).join('&');
  return `${location.origin}${WORKSPACE_PREFIX}/tiles/${ids.map(encodeURIComponent).join(',')}/{z}/{x}/{y}.mvt?${qs}`;
}

/** The catalog layer id a style layer draws, or null for the page's own layers. */
export function catalogLayerOf(styleLayer) {
  return styleLayer?.metadata?.['vigie:layer'] ?? null;
}

/** Perimeter kind colours of a style (read from its perimeter layer's `match`). */
export function perimeterColours(base) {
  const out = { ...PERIMETER_DEFAULTS };
  const layer = (base?.layers || []).find((l) => catalogLayerOf(l) === 'perimeters' && l.type === 'line');
  const expr = layer?.paint?.['line-color'];
  if (Array.isArray(expr) && expr[0] === 'match') {
    for (let i = 2; i + 1 < expr.length; i += 2) if (typeof expr[i] === 'string') out[expr[i]] = expr[i + 1];
  }
  return out;
}

/** Field names of an H3 layer holding the count of one theme, if the catalog lists them. */
function themeCountField(layer, theme, catalog) {
  const names = new Set((layer.fields || []).map((f) => f.name));
  const ids = [theme, ...catalog.layers.filter((l) => l.theme === theme && l.kind === 'entries').map((l) => l.id)];
  for (const id of ids) {
    for (const cand of [id, `count_${id}`, `${id}_count`, `n_${id}`]) if (names.has(cand)) return cand;
  }
  return null;
}

/**
 * The H3 count expression: the sum of the visible themes' counts when the layer carries
 * per-theme counts and only some themes are shown, else the total `count`.
 */
export function heatCountExpression(layer, catalog, visible) {
  const total = ['coalesce', ['to-number', ['get', 'count'], 0], 0];
  const entryLayers = catalog.layers.filter((l) => l.kind === 'entries' && visible.has(l.id));
  if (!entryLayers.length || entryLayers.some((l) => !l.tags || !l.tags.length)) return total;
  const fields = [...new Set(entryLayers.map((l) => themeCountField(layer, l.theme, catalog)))];
  if (fields.some((f) => !f)) return total;
  return ['+', 0, ...fields.map((f) => ['coalesce', ['to-number', ['get', f], 0], 0])];
}

function heatLayers(layer, colour, catalog, visible) {
  const count = ['coalesce', ['to-number', ['get', 'count'], 0], 0];
  const meta = { 'vigie:layer': layer.id, 'vigie:theme': layer.theme, 'vigie:generated': true };
  return [
    {
      id: `${layer.id}-heat`,
      type: 'fill',
      source: SOURCE_ID,
      'source-layer': layer.id,
      metadata: meta,
      maxzoom: HEAT_MAX_ZOOM,
      layout: { visibility: visible.has(layer.id) ? 'visible' : 'none' },
      paint: {
        'fill-color': ['interpolate', ['linear'], count, 1, '#fde68a', 5, '#fb923c', 20, '#dc2626', 100, '#7f1d1d'],
        'fill-opacity': ['interpolate', ['linear'], ['zoom'], HEAT_MAX_ZOOM - 1, 0.7, HEAT_MAX_ZOOM, 0.2],
      },
    },
    {
      id: `${layer.id}-heat-outline`,
      type: 'line',
      source: SOURCE_ID,
      'source-layer': layer.id,
      metadata: meta,
      maxzoom: HEAT_MAX_ZOOM,
      layout: { visibility: visible.has(layer.id) ? 'visible' : 'none' },
      paint: { 'line-color': colour, 'line-width': 0.6, 'line-opacity': 0.5 },
    },
  ];
}

/**
 * A staffing layer's places the style does not draw: circles coloured by coverage (the server's
 * styles draw them the same way).
 */
function staffingPlaces(layer, colour, visible) {
  const c = STAFFING_COVERAGE;
  return {
    ...generatedLayer(layer, visible),
    id: `${layer.id}-places`,
    type: 'circle',
    paint: {
      'circle-color': ['match', ['get', 'coverage'], 'full', c.full, 'short', c.short, 'closed', c.closed, colour],
      'circle-radius': 7,
      'circle-stroke-color': '#ffffff',
      'circle-stroke-width': 1.5,
    },
  };
}

/** The badge of the people short beside each staffing place that is short of some. */
function staffingBadges(layer, visible) {
  const short = ['coalesce', ['to-number', ['get', 'short'], 0], 0];
  const base = generatedLayer(layer, visible);
  return {
    ...base,
    id: `${layer.id}-short`,
    type: 'symbol',
    filter: ['>', short, 0],
    layout: {
      ...base.layout,
      'icon-image': ['concat', STAFFING_BADGE, ['to-string', short]],
      'icon-anchor': 'bottom-left',
      'icon-offset': [3, -3],
      'icon-allow-overlap': true,
      'icon-ignore-placement': true,
    },
  };
}

function genericLayers(layer, colour, visible) {
  const poly = ['any', ['==', ['geometry-type'], 'Polygon'], ['==', ['geometry-type'], 'MultiPolygon']];
  const line = ['any', ['==', ['geometry-type'], 'LineString'], ['==', ['geometry-type'], 'MultiLineString']];
  const point = ['any', ['==', ['geometry-type'], 'Point'], ['==', ['geometry-type'], 'MultiPoint']];
  return [
    { ...generatedLayer(layer, visible), id: `${layer.id}-gen-fill`, type: 'fill', filter: poly, paint: { 'fill-color': colour, 'fill-opacity': 0.15 } },
    { ...generatedLayer(layer, visible), id: `${layer.id}-gen-line`, type: 'line', filter: ['any', poly, line], paint: { 'line-color': colour, 'line-width': 1.5 } },
    {
      ...generatedLayer(layer, visible),
      id: `${layer.id}-gen-point`,
      type: 'circle',
      filter: point,
      paint: { 'circle-color': colour, 'circle-radius': 5, 'circle-stroke-color': '#ffffff', 'circle-stroke-width': 1 },
    },
  ];
}

/** Paint properties that carry an entry layer's theme colour when they are a plain colour. */
const THEME_COLOUR_PAINT = ['fill-color', 'line-color', 'circle-color'];

/**
 * Sets the plain-colour theme paints of a style layer (expressions are left alone). A cluster
 * layer carries the theme in its ring, its fill being the severity's.
 */
function recolour(styleLayer, colour) {
  const props = isClusterLayer(styleLayer) ? ['circle-stroke-color'] : THEME_COLOUR_PAINT;
  for (const prop of props) {
    if (typeof styleLayer.paint?.[prop] === 'string') styleLayer.paint[prop] = colour;
  }
}

/**
 * The catalog entry layer whose style layers serve as the model for entry layers the style does
 * not draw: the whole log's when the style draws it, else the first drawn entry layer; null when
 * the style draws none.
 */
function entryTemplate(baseLayers, catalog, drawn) {
  const entries = catalog.layers.filter((l) => l.kind === 'entries' && drawn.has(l.id));
  const chosen = entries.find((l) => !l.tags || !l.tags.length) || entries[0];
  return chosen && baseLayers.some((l) => catalogLayerOf(l) === chosen.id) ? chosen.id : null;
}

/**
 * An archive layer's attribution for the map's control: its TileJSON's (the catalog's line
 * joined with the archive's own by " · "), without the catalog's line, which the composite
 * source already gives.
 */
function archiveAttribution(tilejson, catalog) {
  const text = typeof tilejson?.attribution === 'string' ? tilejson.attribution : '';
  const own = catalog.attribution || '';
  if (own && text.startsWith(`${own} · `)) return text.slice(own.length + 3);
  return text === own ? '' : text;
}

/**
 * The source and style layers of a tile archive layer. Its tiles come from the catalog's
 * template (a path on this server) made absolute against the page's origin, not from the
 * TileJSON's `tiles`, which the server writes from the request's Host header (another name
 * behind a proxy): nothing the page asks may leave its origin. The TileJSON (`tilejson`, null
 * when it could not be read) gives the zoom range, bounds, attribution and, for vector tiles,
 * the archive's own layer names.
 *
 * A raster archive is one raster layer (`raster-saturation` -1 in greyscale). A vector one gets
 * grey fills, outlines, lines and points for each of its `vector_layers` and no labels: the page
 * has no glyphs (clusters and badges are images for that reason) and fetching fonts from another
 * origin is out of the question. Being grey already, it ignores greyscale.
 * @returns {{source: object, layers: object[], raster: boolean}}
 */
export function archiveStyle(layer, tilejson, catalog, { shown, greyscale = false, basemap = false }) {
  const raster = layer.format && layer.format !== 'mvt';
  const tj = tilejson || {};
  const source = {
    type: raster ? 'raster' : 'vector',
    tiles: [`${location.origin}${layer.tiles}`],
    minzoom: Math.max(layer.minzoom ?? 0, tj.minzoom ?? 0),
    maxzoom: Math.min(layer.maxzoom ?? 24, tj.maxzoom ?? 24),
    attribution: archiveAttribution(tilejson, catalog),
  };
  if (raster) source.tileSize = 256;
  if (Array.isArray(tj.bounds) && tj.bounds.length === 4) source.bounds = tj.bounds;
  const id = archiveSourceId(layer.id);
  const common = () => ({
    source: id,
    metadata: { 'vigie:layer': layer.id, 'vigie:theme': layer.theme, 'vigie:archive': true, ...(basemap ? { [BASEMAP_META]: true } : {}), 'vigie:generated': true },
    layout: { visibility: shown ? 'visible' : 'none' },
  });
  if (raster) {
    return { source, raster, layers: [{ ...common(), id: `${layer.id}-raster`, type: 'raster', paint: { 'raster-saturation': greyscale ? -1 : 0 } }] };
  }
  const poly = ['any', ['==', ['geometry-type'], 'Polygon'], ['==', ['geometry-type'], 'MultiPolygon']];
  const line = ['any', ['==', ['geometry-type'], 'LineString'], ['==', ['geometry-type'], 'MultiLineString']];
  const point = ['any', ['==', ['geometry-type'], 'Point'], ['==', ['geometry-type'], 'MultiPoint']];
  const g = ARCHIVE_GREYS;
  const names = (tj.vector_layers || []).map((v) => v?.id).filter((v) => typeof v === 'string');
  // Every fill under every line under every point, whatever archive layer they come from.
  const of = (type, suffix, filter, paint) =>
    names.map((name) => ({ ...common(), id: `${layer.id}-${name}-${suffix}`, type, 'source-layer': name, filter, paint }));
  return {
    source,
    raster,
    layers: [
      ...of('fill', 'fill', poly, { 'fill-color': g.fill }),
      ...of('line', 'outline', poly, { 'line-color': g.outline, 'line-width': 0.5 }),
      ...of('line', 'line', line, { 'line-color': g.line, 'line-width': 1 }),
      ...of('circle', 'point', point, { 'circle-color': g.point, 'circle-radius': 2.5 }),
    ],
  };
}

/** Ids of the style layers outlining a region picked from tile features (a venue's
 * perimeter, a département), by catalog layer; their filter selects the picked feature. */
export const REGION_OUTLINE = { perimeters: 'overlay-region-perimeter', area: 'overlay-region-area' };
const NOTHING = ['boolean', false];

function overlayLayers(mode, catalog) {
  const accent = mode === 'wall' ? '#fbbf24' : '#b45309';
  const region = mode === 'wall' ? '#38bdf8' : '#0369a1';
  const role = (r) => ['==', ['get', 'role'], r];
  const outline = (id, sourceLayer) => ({
    id,
    type: 'line',
    source: SOURCE_ID,
    'source-layer': sourceLayer,
    filter: NOTHING,
    paint: { 'line-color': region, 'line-width': 4, 'line-dasharray': [2, 1] },
  });
  const perimeters = catalog.layers.find((l) => l.kind === 'perimeters');
  const areas = catalog.layers.find((l) => l.kind === 'dataset' && /departement/.test(l.id));
  return [
    perimeters ? outline(REGION_OUTLINE.perimeters, perimeters.id) : null,
    areas ? outline(REGION_OUTLINE.area, areas.id) : null,
    { id: 'overlay-region-fill', type: 'fill', source: OVERLAY_ID, filter: ['all', role('region'), ['==', ['geometry-type'], 'Polygon']], paint: { 'fill-color': region, 'fill-opacity': 0.1 } },
    { id: 'overlay-region-line', type: 'line', source: OVERLAY_ID, filter: ['any', role('region'), role('draft')], paint: { 'line-color': region, 'line-width': 2.5, 'line-dasharray': [2, 1] } },
    { id: 'overlay-vertex', type: 'circle', source: OVERLAY_ID, filter: role('vertex'), paint: { 'circle-radius': 4, 'circle-color': '#ffffff', 'circle-stroke-color': region, 'circle-stroke-width': 2 } },
    { id: 'overlay-selection-line', type: 'line', source: OVERLAY_ID, filter: ['all', role('selection'), ['!=', ['geometry-type'], 'Point']], paint: { 'line-color': accent, 'line-width': 4, 'line-opacity': 0.9 } },
    { id: 'overlay-selection-point', type: 'circle', source: OVERLAY_ID, filter: ['all', role('selection'), ['==', ['geometry-type'], 'Point']], paint: { 'circle-radius': 14, 'circle-color': 'rgba(0,0,0,0)', 'circle-stroke-color': accent, 'circle-stroke-width': 3 } },
    { id: 'overlay-placement', type: 'circle', source: OVERLAY_ID, filter: role('placement'), paint: { 'circle-radius': 9, 'circle-color': accent, 'circle-stroke-color': '#ffffff', 'circle-stroke-width': 3 } },
  ].filter(Boolean);
}

/**
 * The complete style.
 * @param {object} o
 * @param {object|null} o.base server style (null: a plain background, generated layers only)
 * @param {object} o.catalog GET /catalog
 * @param {'desk'|'wall'} o.mode
 * @param {Set<string>} o.visible visible catalog layer ids
 * @param {string} o.url composite tile URL
 * @param {string|null} o.basemap same-origin raster tile URL template, or null
 * @param {object} o.overlay GeoJSON FeatureCollection of the overlay source
 * @param {Map<string, object|null>} [o.archives] TileJSON of each archive layer, by id
 * @param {boolean} [o.basemapShown] whether the basemaps (the catalog's, `?basemap=`) are shown
 * @param {boolean} [o.greyscale] whether raster basemaps are drawn in greys
 */
export function buildStyle({ base, catalog, mode, visible, url, basemap, overlay, archives = new Map(), basemapShown = true, greyscale = false }) {
  const themes = new Map(catalog.themes.map((t) => [t.id, t]));
  const catalogIds = new Set(catalog.layers.map((l) => l.id));
  const baseLayers = base?.layers || [];
  const background = baseLayers.find((l) => l.type === 'background') || {
    id: 'background',
    type: 'background',
    paint: { 'background-color': mode === 'wall' ? '#0b1220' : '#eef1f4' },
  };
  const layers = [structuredClone(background)];
  const sources = {
    [SOURCE_ID]: {
      type: 'vector',
      tiles: [url],
      minzoom: 0,
      // Past the catalog's maxzoom the server's tiles still split clusters (budgets hold at
      // every zoom): ask for them down to CLUSTER_SPLIT_ZOOM rather than overzoom.
      maxzoom: Math.max(CLUSTER_SPLIT_ZOOM, ...catalog.layers.map((l) => l.maxzoom ?? 16)),
      attribution: catalog.attribution || '',
    },
    [OVERLAY_ID]: { type: 'geojson', data: overlay || { type: 'FeatureCollection', features: [] } },
  };
  // Archive layers at the bottom, each from its own source: the catalog's basemap first. One
  // the server cannot serve now is left out, basemap or not: no source, so no tile asked.
  const archiveLayers = catalog.layers.filter(isDrawnArchive);
  const addArchive = (l, opts) => {
    const built = archiveStyle(l, archives.get(l.id) ?? null, catalog, opts);
    sources[archiveSourceId(l.id)] = built.source;
    layers.push(...built.layers);
  };
  const catalogBasemap = archiveLayers.find((l) => l.id === catalog.basemap);
  if (catalogBasemap) addArchive(catalogBasemap, { shown: basemapShown, greyscale, basemap: true });
  if (basemap) {
    sources[QUERY_BASEMAP_ID] = { type: 'raster', tiles: [basemap], tileSize: 256 };
    layers.push({
      id: QUERY_BASEMAP_ID,
      type: 'raster',
      source: QUERY_BASEMAP_ID,
      metadata: { [BASEMAP_META]: true },
      layout: { visibility: basemapShown ? 'visible' : 'none' },
      paint: { 'raster-opacity': mode === 'wall' ? 0.5 : 0.8, 'raster-saturation': greyscale ? -1 : 0 },
    });
  }
  for (const l of archiveLayers) if (l !== catalogBasemap) addArchive(l, { shown: visible.has(l.id) });
  const byId = new Map(catalog.layers.map((l) => [l.id, l]));
  const drawn = new Set(baseLayers.map(catalogLayerOf).filter((id) => id && catalogIds.has(id) && !isArchive(byId.get(id))));
  const colourOf = (l) => themes.get(l.theme)?.color || '#555555';
  // Entry layers the style does not draw (added to the catalog at run time) are drawn like the
  // entry layer the style does draw (severity sizes, qualification opacities), in their colour.
  const template = entryTemplate(baseLayers, catalog, drawn);
  const undrawnEntries = template ? catalog.layers.filter((l) => l.kind === 'entries' && !drawn.has(l.id)) : [];
  // Other catalog layers the style does not draw go first (under points and perimeters), but
  // the staffing places, few and read at a glance, which go over the log's points.
  const staffing = catalog.layers.filter((l) => l.kind === 'staffing');
  for (const l of catalog.layers) {
    if (drawn.has(l.id) || undrawnEntries.includes(l) || l.kind === 'staffing' || isArchive(l)) continue;
    const colour = colourOf(l);
    layers.push(...(l.kind === 'h3' ? heatLayers(l, colour, catalog, visible) : genericLayers(l, colour, visible)));
  }
  for (const l of baseLayers) {
    const id = catalogLayerOf(l);
    // A server style cannot draw an archive layer from the composite source: it has its own.
    if (!id || !catalogIds.has(id) || isArchive(byId.get(id))) continue;
    const copy = structuredClone(l);
    copy.source = SOURCE_ID;
    copy.layout = { ...(copy.layout || {}), visibility: visible.has(id) ? 'visible' : 'none' };
    const def = byId.get(id);
    // Entry layers are drawn in their theme's colour, which an admin may have changed since.
    if (def.kind === 'entries') recolour(copy, colourOf(def));
    layers.push(copy);
    if (id !== template) continue;
    for (const e of undrawnEntries) {
      const gen = structuredClone(copy);
      gen.id = `${e.id}-gen${l.id.startsWith(id) ? l.id.slice(id.length) : `-${l.id}`}`;
      gen['source-layer'] = e.id;
      gen.metadata = { ...(gen.metadata || {}), 'vigie:layer': e.id, 'vigie:theme': e.theme, 'vigie:generated': true };
      gen.layout.visibility = visible.has(e.id) ? 'visible' : 'none';
      recolour(gen, colourOf(e));
      layers.push(gen);
    }
  }
  // Layers the server may thin: their own style layers never draw a cluster. The clusters the
  // style does not draw are added: the log's over every layer's features (circles, then every
  // count), the reference layers' right over their own (under the log, as the layers are: the
  // territory's mask goes between them).
  const thinnable = catalog.layers.filter((l) => THINNABLE_KINDS.has(l.kind));
  const thinnableIds = new Set(thinnable.map((l) => l.id));
  for (const l of layers) {
    if (thinnableIds.has(catalogLayerOf(l)) && !isClusterLayer(l)) l.filter = withoutClusters(l.filter);
  }
  const hasCluster = (id, type) => layers.some((l) => catalogLayerOf(l) === id && isClusterLayer(l) && l.type === type);
  const missing = thinnable.map((l) => ({ l, which: { circle: !hasCluster(l.id, 'circle'), label: !hasCluster(l.id, 'symbol') } }));
  for (const { l, which } of missing.filter((m) => m.l.kind !== 'entries')) {
    const last = layers.findLastIndex((x) => catalogLayerOf(x) === l.id);
    layers.splice(last < 0 ? layers.length : last + 1, 0, ...clusterLayers(l, colourOf(l), mode, visible, which));
  }
  const log = missing.filter((m) => m.l.kind === 'entries');
  for (const { l, which } of log) if (which.circle) layers.push(...clusterLayers(l, colourOf(l), mode, visible, { circle: true }));
  for (const { l, which } of log) if (which.label) layers.push(...clusterLayers(l, colourOf(l), mode, visible, { label: true }));
  // Staffing places over everything but the overlays, each with its badge (the style cannot
  // write one: it has no glyphs).
  for (const l of staffing) {
    if (!drawn.has(l.id)) layers.push(staffingPlaces(l, colourOf(l), visible));
    if (!baseLayers.some((b) => catalogLayerOf(b) === l.id && b.type === 'symbol')) layers.push(staffingBadges(l, visible));
  }
  layers.push(...overlayLayers(mode, catalog));
  return {
    version: 8,
    name: base?.name || 'vigie',
    metadata: { 'vigie:mode': mode },
    center: base?.center || [2.3522, 48.8566],
    zoom: base?.zoom ?? 11,
    sources,
    layers,
  };
}
