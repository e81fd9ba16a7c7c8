// The user's territory (issue 15): a member narrowed to part of the map sees its outline, and
// what lies outside greyed out. GET /api/me/territory gives one MultiPolygon per level (`level`
// 0 the narrowest: a token's, then the membership's, then the workspace's), none when the user
// sees the whole workspace. It is asked at start and again whenever someone signs in during
// use (the `identity` event of session.js); signing out reloads the page. A rebuilt style
// (mode, catalog) drops the layers: they come back on its `style` event. The first time a
// territory comes, the map fits it, unless the link carried a view.

import { t } from './i18n.js';
import { h, $, replace } from './dom.js';
import { geometryBbox } from './overlay.js';
import { OVERLAY_ID, REGION_OUTLINE, catalogLayerOf } from './style.js';

/** Id of the GeoJSON source holding the outlines and the mask. */
export const TERRITORY_SOURCE = 'territory';
/** Ids of the territory's style layers, bottom to top. */
export const TERRITORY_LAYERS = { mask: 'territory-mask', outer: 'territory-outline-outer', outline: 'territory-outline' };

/** The world as Web Mercator draws it (lon/lat, to its latitude limit): the mask's exterior. */
const WORLD = [-180, -85.0511, 180, 85.0511];
/** Opacity of the grey over what lies outside the territory. */
const MASK_OPACITY = 0.35;
/** Margin around the territory when the map fits it, px. */
const FIT_PADDING_PX = 40;
/** Closest zoom the fit goes to (a territory of a few streets). */
const FIT_MAX_ZOOM = 16;
/** Catalog layer kinds drawn above the mask: the operations log (points, areas, H3 counts). */
const OPERATIONAL_KINDS = new Set(['entries', 'h3']);
/** Mask and outline colours by display mode (the wall's background is dark). */
const COLOURS = {
  desk: { mask: '#4b5563', line: '#111827' },
  wall: { mask: '#475569', line: '#f8fafc' },
};

/** Twice the signed area of a ring (lon/lat): positive when counterclockwise. */
function signedArea2(ring) {
  let a = 0;
  for (let i = 0; i + 1 < ring.length; i += 1) a += ring[i][0] * ring[i + 1][1] - ring[i + 1][0] * ring[i][1];
  return a;
}

/** The ring wound counterclockwise (`ccw`) or clockwise, reversed when it is not. */
const wound = (ring, ccw) => (signedArea2(ring) > 0 === ccw ? ring : [...ring].reverse());

/** The polygons (coordinate arrays) of a Polygon or MultiPolygon; none for anything else. */
function polygonsOf(geometry) {
  if (geometry?.type === 'Polygon') return [geometry.coordinates];
  if (geometry?.type === 'MultiPolygon') return geometry.coordinates;
  return [];
}

/**
 * The grey mask of a territory level: the world with a hole per polygon (its exterior ring),
 * and each polygon's own holes drawn back as islands (they lie outside too). Exteriors wind
 * counterclockwise and holes clockwise, as RFC 7946 asks (MapLibre's GeoJSON source goes by
 * each ring's place in its polygon, but a valid document stays valid wherever it goes). Parts
 * that overlap give overlapping holes, which may be drawn grey where they overlap; a
 * territory's parts are normally apart.
 */
export function maskOf(geometry) {
  const [w, s, e, n] = WORLD;
  const world = [[w, s], [e, s], [e, n], [w, n], [w, s]];
  const polygons = polygonsOf(geometry).filter((p) => p[0]?.length >= 4);
  const holes = polygons.map((p) => wound(p[0], false));
  const islands = polygons.flatMap((p) => p.slice(1).filter((r) => r.length >= 4).map((r) => [wound(r, true)]));
  return { type: 'MultiPolygon', coordinates: [[world, ...holes], ...islands] };
}

/** The territory's levels from a GET /api/me/territory answer, narrowest first. */
function levelsOf(collection) {
  return (collection?.features || [])
    .filter((f) => polygonsOf(f.geometry).length)
    .sort((a, b) => (a.properties?.level ?? 0) - (b.properties?.level ?? 0));
}

/** The territory controller, bound to the page's shared `app` (its map built). */
export function createTerritory(app) {
  const map = app.map;
  const legend = $('territory-legend');
  /** Whether the link carried a view: then the map keeps it. */
  const linkedView = !!app.state.center;
  /** The current levels (GeoJSON features), narrowest first; none for the whole workspace. */
  let levels = [];
  let styleReady = false;
  let fitted = false;
  let generation = 0;

  const colours = () => COLOURS[app.state.mode] || COLOURS.desk;

  /** The first layer to draw above the mask: the log's, else the page's own overlays. */
  function beneathOperations() {
    const kinds = new Map(app.catalog.layers.map((l) => [l.id, l.kind]));
    const overlays = new Set(Object.values(REGION_OUTLINE));
    return map.getLayersOrder().find((id) => {
      const layer = map.getLayer(id);
      return OPERATIONAL_KINDS.has(kinds.get(catalogLayerOf(layer))) || layer.source === OVERLAY_ID || overlays.has(id);
    });
  }

  function styleLayers() {
    const c = colours();
    const level = (cmp) => ['all', ['has', 'level'], [cmp, ['get', 'level'], 0]];
    return [
      { id: TERRITORY_LAYERS.mask, type: 'fill', source: TERRITORY_SOURCE, filter: ['has', 'mask'], paint: { 'fill-color': c.mask, 'fill-opacity': MASK_OPACITY } },
      { id: TERRITORY_LAYERS.outer, type: 'line', source: TERRITORY_SOURCE, filter: level('>'), paint: { 'line-color': c.line, 'line-width': 1.5, 'line-opacity': 0.6, 'line-dasharray': [3, 2] } },
      { id: TERRITORY_LAYERS.outline, type: 'line', source: TERRITORY_SOURCE, filter: level('=='), paint: { 'line-color': c.line, 'line-width': 3 } },
    ];
  }

  function clear() {
    for (const id of Object.values(TERRITORY_LAYERS).reverse()) if (map.getLayer(id)) map.removeLayer(id);
    if (map.getSource(TERRITORY_SOURCE)) map.removeSource(TERRITORY_SOURCE);
  }

  /** Puts the levels on the map (source and layers added when missing), or takes them off. */
  function draw() {
    if (!styleReady) return;
    if (!levels.length) {
      clear();
      return;
    }
    const data = {
      type: 'FeatureCollection',
      features: [
        { type: 'Feature', properties: { mask: true }, geometry: maskOf(levels[0].geometry) },
        ...levels.map((f, i) => ({ type: 'Feature', properties: { level: f.properties?.level ?? i }, geometry: f.geometry })),
      ],
    };
    const source = map.getSource(TERRITORY_SOURCE);
    if (source) source.setData(data);
    else map.addSource(TERRITORY_SOURCE, { type: 'geojson', data });
    const before = beneathOperations();
    for (const layer of styleLayers()) if (!map.getLayer(layer.id)) map.addLayer(layer, before);
  }

  function renderLegend() {
    legend.hidden = !levels.length;
    if (!levels.length) {
      replace(legend);
      return;
    }
    const c = colours();
    replace(
      legend,
      h('div', { class: 'legend-title' }, t('territory.title')),
      h('div', { class: 'legend-row' }, h('span', { class: 'swatch', style: { '--swatch': 'transparent', border: `3px solid ${c.line}` } }), t('territory.outline')),
      levels.length > 1 ? h('div', { class: 'legend-row' }, h('span', { class: 'swatch', style: { '--swatch': 'transparent', border: `2px dashed ${c.line}` } }), t('territory.outer')) : null,
      h('div', { class: 'legend-row' }, h('span', { class: 'swatch', style: { '--swatch': c.mask, opacity: String(MASK_OPACITY) } }), t('territory.outside')),
      h('p', { class: 'note' }, t('territory.note')),
    );
  }

  /** The first territory of the page: the map shows it whole, unless the link chose the view. */
  function fitOnce() {
    if (fitted || linkedView || !levels.length) return;
    fitted = true;
    const [w, s, e, n] = geometryBbox(levels[0].geometry);
    if (![w, s, e, n].every(Number.isFinite)) return;
    map.fitBounds(
      [
        [w, s],
        [e, n],
      ],
      { padding: FIT_PADDING_PX, maxZoom: FIT_MAX_ZOOM, animate: false },
    );
  }

  /**
   * Asks the server for the territory of whoever the page runs as, and draws it. GET /api/me
   * already says when there is none (`territory: null`): then nothing is asked. An answer that
   * fails draws no territory (the server narrows what it serves all the same).
   */
  async function refresh() {
    const gen = ++generation;
    let next = [];
    if (app.me && app.me.territory !== null) {
      try {
        const r = await app.apiFetch('/api/me/territory', { headers: { Accept: 'application/geo+json' } });
        if (r.ok) next = levelsOf(await r.json());
      } catch {
        /* network failure: no outline */
      }
    }
    if (gen !== generation) return;
    levels = next;
    draw();
    renderLegend();
    fitOnce();
  }

  const ready = () => {
    styleReady = true;
    draw();
  };
  if (map.loaded()) ready();
  else map.once('load', ready);
  app.on('style', () => {
    draw();
    renderLegend();
  });
  app.on('identity', refresh);
  app.on('lang', renderLegend);
  refresh();

  return {
    refresh,
    /** The current levels (GeoJSON features, narrowest first); empty for the whole workspace. */
    levels: () => levels,
  };
}
