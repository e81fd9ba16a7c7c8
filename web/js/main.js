// vigie — the hypervision page. Vanilla ES modules, no build step: MapLibre GL JS is the
// vendored UMD build (window.maplibregl, web/vendor/), everything else is in web/js/.
//
// One composite vector source carries every visible catalog layer
// (`/tiles/<visible ids>/{z}/{x}/{y}.mvt?<filters>`), so a toggle changes the tile request;
// the view (layers, filters, centre, zoom, language, mode) lives in the URL hash.

import { t, setLang, currentLang, title, formatTime } from './i18n.js';
import { h, $, replace, debounce } from './dom.js';
import * as S from './state.js';
import {
  SOURCE_ID,
  HEAT_MAX_ZOOM,
  fetchBaseStyle,
  tileUrl,
  buildStyle,
  catalogLayerOf,
  perimeterColours,
  heatCountExpression,
} from './style.js';
import { createOverlay } from './overlay.js';
import { createCourante } from './courante.js';
import { createPopups } from './popup.js';
import { createEntryForm } from './form.js';
import { createRegion } from './region.js';

const maplibregl = window.maplibregl;
/** Shortest gap between two tile refreshes caused by live events, ms. */
const LIVE_REFRESH_MIN_MS = 300;
/** Length of the "latest activity" window, ms. */
const DATA_WINDOW_MS = 7 * 86_400_000;

const storage = {
  get(k) {
    try {
      return localStorage.getItem(k);
    } catch {
      return null;
    }
  },
  set(k, v) {
    try {
      localStorage.setItem(k, v);
    } catch {
      /* private mode: the setting only lasts for the page */
    }
  },
};

/** Everything the modules share. */
const app = {
  map: null,
  catalog: null,
  themes: new Map(),
  layersById: new Map(),
  base: null,
  state: null,
  rev: 0,
  currentTileUrl: null,
  styleLayers: new Map(), // catalog layer id -> [{id, minzoom, maxzoom, generated}]
  interactiveLayers: [],
  queryAvailable: false,
  newest: null,
  jumped: false,
  tool: null,
  bus: new EventTarget(),
  overlay: null,
  perimeterColours: {},
  basemap: null,
  timings: { navigationToFirstFeaturesMs: null },
};
window.vigie = app;

app.on = (name, fn) => app.bus.addEventListener(name, (e) => fn(e.detail));
app.emit = (name, detail) => app.bus.dispatchEvent(new CustomEvent(name, { detail }));
app.operator = () => ($('operator').value || '').trim();

/** fetch with the operator's name (the entry API's author until authentication lands). */
app.apiFetch = (path, opts = {}) => {
  const headers = new Headers(opts.headers || {});
  const who = app.operator();
  if (who) headers.set('X-Vigie-User', who);
  return fetch(path, { ...opts, headers });
};

app.filterQuery = () => S.filterQuery(app.state);
app.themeOf = (id) => app.themes.get(id) || null;
app.entryThemes = () => app.catalog.themes.filter((th) => th.entry_tag);
app.visible = () => new Set(app.state.layers);

/**
 * Tags the entry list is limited to, from the visible entry layers: null = every entry (the
 * whole-log layer is shown), [] = no entry layer shown.
 */
app.visibleEntryTags = () => {
  const vis = app.visible();
  const layers = app.catalog.layers.filter((l) => l.kind === 'entries' && vis.has(l.id));
  if (layers.some((l) => !l.tags || !l.tags.length)) return null;
  return [...new Set(layers.flatMap((l) => l.tags))];
};

/** Whether an entry (API form) passes the current filters and visible themes. */
app.entryMatches = (e) => {
  if (!e || e.deleted) return false;
  const [from, to] = S.windowBounds(app.state.window);
  const at = Date.parse(e.occurred_at);
  if (!(at >= from && at <= to)) return false;
  if (e.severity < app.state.severity) return false;
  if (!app.state.qualification.includes(e.qualification)) return false;
  const tags = app.visibleEntryTags();
  if (tags && !(e.tags || []).some((tag) => tags.includes(tag))) return false;
  return true;
};

function showMapError(msg) {
  const el = $('map-error');
  el.textContent = msg;
  el.hidden = !msg;
  clearTimeout(showMapError.timer);
  if (msg) showMapError.timer = setTimeout(() => (el.hidden = true), 10_000);
}

/** Shows (or hides, with null) the hint of the active map tool. */
app.hint = (text) => {
  const el = $('tool-hint');
  el.textContent = text || '';
  el.hidden = !text;
};

/** Activates a map tool ({name, hint(), onClick, onMove, onDblClick, onKey, cancel}); null ends it. */
app.setTool = (tool) => {
  const prev = app.tool;
  app.tool = tool;
  if (prev && prev !== tool) prev.cancel?.();
  document.body.classList.toggle('tool-active', !!tool);
  app.hint(tool ? tool.hint() : null);
  if (tool) app.popups?.close();
  if (app.map) {
    if (tool?.noDoubleClickZoom) app.map.doubleClickZoom.disable();
    else app.map.doubleClickZoom.enable();
  }
  app.emit('tool', tool);
};

// ---------------------------------------------------------------- tiles and layers

function visibleIds() {
  const vis = app.visible();
  return app.catalog.layers.filter((l) => vis.has(l.id)).map((l) => l.id);
}

/** Points the composite source at the visible layers and filters (no-op if unchanged). */
function updateTiles() {
  const ids = visibleIds();
  // No layer shown: every style layer is hidden and MapLibre asks for no tile of an unused
  // source, so the previous URL can stay.
  if (!ids.length || !app.map) return;
  const url = tileUrl(ids, app.filterQuery(), app.rev);
  if (url === app.currentTileUrl) return;
  app.currentTileUrl = url;
  app.map.getSource(SOURCE_ID)?.setTiles([url]);
}

let lastLiveRefresh = 0;
let liveTimer = null;
/** Makes the map refetch its tiles (after a live change): a new `rev`, throttled. */
app.refreshTiles = () => {
  const wait = lastLiveRefresh + LIVE_REFRESH_MIN_MS - performance.now();
  if (liveTimer) return;
  const run = () => {
    liveTimer = null;
    lastLiveRefresh = performance.now();
    app.rev += 1;
    app.staleTiles = false;
    updateTiles();
  };
  if (wait <= 0) run();
  else liveTimer = setTimeout(run, wait);
};

function indexStyleLayers(style) {
  app.styleLayers = new Map();
  app.interactiveLayers = [];
  for (const l of style.layers) {
    const id = catalogLayerOf(l);
    if (!id) continue;
    if (!app.styleLayers.has(id)) app.styleLayers.set(id, []);
    app.styleLayers.get(id).push({
      id: l.id,
      type: l.type,
      minzoom: l.minzoom ?? 0,
      maxzoom: l.maxzoom ?? 24,
      filter: l.filter ?? null,
      paint: structuredClone(l.paint || {}),
    });
    app.interactiveLayers.push(l.id);
  }
}

/** Applies layer visibility, the H3 takeover and the heat expression to the live map. */
function applyLayers() {
  const map = app.map;
  const vis = app.visible();
  for (const [id, sls] of app.styleLayers) {
    for (const sl of sls) map.setLayoutProperty(sl.id, 'visibility', vis.has(id) ? 'visible' : 'none');
  }
  // H3 hexagons take over from points when zoomed out: with a heat layer on, entry layers
  // start one zoom level below the heat layer's last.
  const heatOn = app.catalog.layers.some((l) => l.kind === 'h3' && vis.has(l.id));
  for (const l of app.catalog.layers) {
    if (l.kind === 'entries') {
      for (const sl of app.styleLayers.get(l.id) || []) {
        map.setLayerZoomRange(sl.id, heatOn ? Math.max(sl.minzoom, HEAT_MAX_ZOOM - 1) : sl.minzoom, sl.maxzoom);
      }
    }
    if (l.kind === 'h3') {
      // Hexagons count the visible themes only (per-theme counts n_<theme>), so hiding a theme
      // also takes it out of the heat.
      const count = heatCountExpression(l, app.catalog, vis);
      for (const sl of app.styleLayers.get(l.id) || []) {
        const positive = ['>', count, 0];
        map.setFilter(sl.id, sl.filter ? ['all', withCount(sl.filter, count), positive] : positive);
        for (const [prop, value] of Object.entries(sl.paint)) {
          if (JSON.stringify(value).includes('"count"')) map.setPaintProperty(sl.id, prop, withCount(value, count));
        }
      }
    }
  }
  updateTiles();
}

/** A style expression with every `["get", "count"]` replaced by `count`. */
function withCount(expr, count) {
  if (!Array.isArray(expr)) return expr;
  if (expr.length === 2 && expr[0] === 'get' && expr[1] === 'count') return count;
  return expr.map((x) => withCount(x, count));
}

function setLayerVisible(id, on) {
  const vis = app.visible();
  if (on) vis.add(id);
  else vis.delete(id);
  app.state.layers = app.catalog.layers.filter((l) => vis.has(l.id)).map((l) => l.id);
  applyLayers();
  writeHash();
  app.emit('layers');
}

function currentStyle() {
  const style = buildStyle({
    base: app.base,
    catalog: app.catalog,
    mode: app.state.mode,
    visible: app.visible(),
    url: app.currentTileUrl || tileUrl(visibleIds().length ? visibleIds() : app.catalog.layers.map((l) => l.id), app.filterQuery(), app.rev),
    basemap: app.basemap,
    overlay: app.overlay ? app.overlay.data() : null,
  });
  app.currentTileUrl = style.sources[SOURCE_ID].tiles[0];
  indexStyleLayers(style);
  return style;
}

// ---------------------------------------------------------------- URL state

const writeHash = debounce(() => {
  if (!app.map) return;
  const c = app.map.getCenter();
  app.state.center = [c.lng, c.lat];
  app.state.zoom = app.map.getZoom();
  const hash = S.toHash(app.state);
  if (hash !== location.hash) history.replaceState(null, '', hash);
}, 120);
app.writeHash = writeHash;

function applyHashState() {
  // Only user navigation fires hashchange (the page writes with replaceState).
  const ns = S.parseHash(location.hash);
  if (ns.layers) app.state.layers = ns.layers.filter((id) => app.layersById.has(id));
  if (ns.window) app.state.window = ns.window;
  app.state.severity = ns.severity;
  app.state.qualification = ns.qualification;
  if (ns.center) app.map.jumpTo({ center: ns.center, zoom: ns.zoom });
  if (ns.lang && ns.lang !== currentLang()) switchLang(ns.lang);
  if (ns.mode !== app.state.mode) switchMode(ns.mode);
  applyLayers();
  onFiltersChanged();
  renderLayers();
}

// ---------------------------------------------------------------- filters

function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

let builtFor = null;

function renderFilters() {
  const w = app.state.window;
  for (const b of document.querySelectorAll('[data-last]')) b.setAttribute('aria-pressed', String(w?.kind === 'last' && w.last === b.dataset.last));
  const custom = w?.kind === 'range';
  $('time-custom').setAttribute('aria-pressed', String(custom));
  if (custom) {
    $('time-range').hidden = false;
    $('time-from').value = toLocalInput(w.from);
    $('time-to').value = toLocalInput(w.to);
  }
  $('time-custom').setAttribute('aria-expanded', String(!$('time-range').hidden));
  // Controls are rebuilt only when their labels change (language): rebuilding them on every
  // change would drop the keyboard focus.
  const sev = $('severity');
  if (builtFor !== currentLang()) {
    builtFor = currentLang();
    replace(
      sev,
      h('option', { value: '0' }, t('severity.any')),
      [1, 2, 3, 4].map((n) => h('option', { value: String(n) }, `≥ ${t(`severity.${n}`)}`)),
    );
    replace(
      $('qualifications'),
      S.QUALIFICATIONS.map((q) =>
        h(
          'label',
          {},
          h('input', {
            type: 'checkbox',
            value: q,
            onchange: (e) => {
              const on = new Set(app.state.qualification);
              if (e.target.checked) on.add(q);
              else on.delete(q);
              if (!on.size) {
                e.target.checked = true; // at least one state stays ticked
                return;
              }
              app.state.qualification = S.QUALIFICATIONS.filter((x) => on.has(x));
              onFiltersChanged();
            },
          }),
          t(`qualification.${q}`),
        ),
      ),
    );
  }
  sev.value = String(app.state.severity);
  for (const box of $('qualifications').querySelectorAll('input')) box.checked = app.state.qualification.includes(box.value);
  updateTimeNote();
}

function updateTimeNote() {
  const note = $('time-note');
  note.classList.remove('warn');
  const w = app.state.window;
  const newestAt = app.newest ? Date.parse(app.newest.occurred_at) : null;
  if (w?.kind === 'last' && newestAt !== null && newestAt < S.windowBounds(w)[0]) {
    note.textContent = t('time.empty', { since: formatTime(S.windowBounds(w)[0]), last: formatTime(newestAt) });
    note.classList.add('warn');
  } else if (app.jumped && w?.kind === 'range') {
    note.textContent = t('time.jumped', { last: formatTime(newestAt) });
  } else {
    note.textContent = '';
  }
}

function onFiltersChanged() {
  updateTiles();
  writeHash();
  renderFilters();
  app.emit('filters');
}

/** The window of "latest activity": the 7 days up to the newest entry (next full hour). */
function dataWindow(newest) {
  const at = Date.parse(newest.occurred_at);
  const to = Math.ceil((at + 1) / 3_600_000) * 3_600_000;
  return { kind: 'range', from: new Date(to - DATA_WINDOW_MS).toISOString(), to: new Date(to).toISOString() };
}

async function fetchNewest() {
  try {
    const r = await fetch('/api/entries?limit=1&qualification=all');
    if (!r.ok) return null;
    const body = await r.json();
    return body.entries?.[0] || null;
  } catch {
    return null;
  }
}

function wireFilters() {
  for (const b of document.querySelectorAll('[data-last]')) {
    b.addEventListener('click', () => {
      app.state.window = { kind: 'last', last: b.dataset.last };
      app.jumped = false;
      $('time-range').hidden = true;
      onFiltersChanged();
    });
  }
  $('time-custom').addEventListener('click', () => {
    const form = $('time-range');
    form.hidden = !form.hidden;
    if (!form.hidden && app.state.window?.kind !== 'range') {
      const [from] = S.windowBounds(app.state.window);
      $('time-from').value = toLocalInput(new Date(Number.isFinite(from) ? from : Date.now() - 86_400_000).toISOString());
      $('time-to').value = toLocalInput(new Date().toISOString());
    }
    $('time-custom').setAttribute('aria-expanded', String(!form.hidden));
    if (!form.hidden) $('time-from').focus();
  });
  $('time-range').addEventListener('submit', (e) => {
    e.preventDefault();
    const from = $('time-from').value ? new Date($('time-from').value) : null;
    const to = $('time-to').value ? new Date($('time-to').value) : null;
    if (!from || Number.isNaN(from.getTime()) || (to && !(to > from))) {
      $('time-note').textContent = t('time.badrange');
      $('time-note').classList.add('warn');
      return;
    }
    app.state.window = { kind: 'range', from: from.toISOString(), to: to ? to.toISOString() : null };
    app.jumped = false;
    onFiltersChanged();
  });
  $('time-data').addEventListener('click', async () => {
    app.newest = (await fetchNewest()) || app.newest;
    if (!app.newest) return;
    app.state.window = dataWindow(app.newest);
    app.jumped = true;
    onFiltersChanged();
  });
  $('severity').addEventListener('change', (e) => {
    app.state.severity = Number(e.target.value) || 0;
    onFiltersChanged();
  });
  // Relative windows slide: refetch tiles and the list every minute.
  setInterval(() => {
    if (app.state.window?.kind === 'last') {
      app.refreshTiles();
      app.emit('filters');
    }
  }, 60_000);
}

// ---------------------------------------------------------------- layer panel and legend

function renderLayers() {
  const vis = app.visible();
  const groups = app.catalog.themes
    .map((th) => ({ th, layers: app.catalog.layers.filter((l) => l.theme === th.id) }))
    .filter((g) => g.layers.length);
  replace(
    $('layer-groups'),
    groups.map(({ th, layers }) =>
      h(
        'fieldset',
        { class: 'theme-group' },
        h('legend', {}, h('span', { class: 'swatch', style: { '--swatch': th.color }, 'aria-hidden': 'true' }), title(th)),
        layers.map((l) =>
          h(
            'label',
            { class: 'layer-toggle', style: { '--swatch': th.color }, title: l.description || '' },
            h('input', {
              type: 'checkbox',
              id: `layer-${l.id}`,
              'data-layer': l.id,
              checked: vis.has(l.id),
              onchange: (e) => setLayerVisible(l.id, e.target.checked),
            }),
            h('span', {}, title(l)),
            Number.isFinite(l.features) ? h('span', { class: 'count', 'aria-hidden': 'true' }, l.features.toLocaleString(currentLang())) : null,
          ),
        ),
      ),
    ),
  );
}

function renderLegend() {
  const fg = getComputedStyle(document.body).getPropertyValue('--fg-muted').trim() || '#4b5563';
  const pc = app.perimeterColours;
  const hasPerimeters = app.catalog.layers.some((l) => l.kind === 'perimeters');
  const hasHeat = app.catalog.layers.some((l) => l.kind === 'h3');
  replace(
    $('legend'),
    h('div', { class: 'legend-title' }, t('legend.severity')),
    h(
      'div',
      { class: 'legend-row' },
      [0, 1, 2, 3, 4].map((s) => {
        const d = 6 + s * 3;
        return h('span', { class: 'legend-row', title: t(`severity.${s}`) }, h('span', { class: 'sev-dot', style: { width: `${d}px`, height: `${d}px`, background: fg } }), String(s));
      }),
    ),
    h('div', { class: 'legend-title' }, t('legend.qualification')),
    h(
      'div',
      { class: 'legend-row' },
      [
        ['confirmed', 0.95],
        ['in_review', 0.7],
        ['closed', 0.55],
        ['refuted', 0.4],
      ].map(([q, o]) => h('span', { class: 'legend-row' }, h('span', { class: 'q-dot', style: { opacity: String(o) } }), t(`qualification.${q}`))),
    ),
    hasPerimeters ? h('div', { class: 'legend-title' }, t('legend.perimeters')) : null,
    hasPerimeters
      ? h(
          'div',
          { class: 'legend-row' },
          ['silt', 'red', 'blue'].map((k) => h('span', { class: 'legend-row' }, h('span', { class: 'swatch', style: { '--swatch': pc[k] } }), t(`perimeter.${k}`))),
        )
      : null,
    hasHeat ? h('div', { class: 'legend-title' }, t('legend.heat')) : null,
    hasHeat ? h('div', { class: 'heat-ramp', role: 'img', 'aria-label': t('legend.heat') }) : null,
    hasHeat ? h('p', { class: 'note' }, t('legend.heat.note')) : null,
  );
}

// ---------------------------------------------------------------- language and mode

function switchLang(lang) {
  setLang(lang);
  app.state.lang = lang;
  storage.set('vigie.lang', lang);
  renderFilters();
  renderLayers();
  renderLegend();
  writeHash();
  app.emit('lang');
}

async function switchMode(mode) {
  app.state.mode = mode === 'wall' ? 'wall' : 'desk';
  document.body.classList.toggle('wall', app.state.mode === 'wall');
  $('mode').setAttribute('aria-pressed', String(app.state.mode === 'wall'));
  $('mode').dataset.i18n = app.state.mode === 'wall' ? 'mode.desk' : 'mode.wall';
  $('mode').textContent = t($('mode').dataset.i18n);
  app.base = (await fetchBaseStyle(app.state.mode)) || app.base;
  app.perimeterColours = perimeterColours(app.base);
  app.currentTileUrl = null;
  app.map.setStyle(currentStyle());
  app.map.once('styledata', () => {
    applyLayers();
    app.emit('style');
  });
  renderLegend();
  writeHash();
  setTimeout(() => app.map.resize(), 0);
}

// ---------------------------------------------------------------- boot

async function getJson(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

function resolveBasemap() {
  const raw = new URLSearchParams(location.search).get('basemap');
  if (!raw) return null;
  try {
    const u = new URL(raw, location.origin);
    // Only this server: the page makes no request to another origin (and its CSP forbids it).
    if (u.origin !== location.origin) throw new Error('other origin');
    return decodeURI(u.href);
  } catch {
    showMapError(t('basemap.ignored'));
    return null;
  }
}

function firstFeaturesProbe(map) {
  const check = () => {
    if (app.timings.navigationToFirstFeaturesMs !== null) return;
    const n = map.queryRenderedFeatures({ layers: app.interactiveLayers.filter((id) => map.getLayer(id)) }).length;
    if (n > 0) {
      app.timings.navigationToFirstFeaturesMs = Math.round(performance.now());
      map.off('render', check);
      console.info(`vigie: first features rendered ${app.timings.navigationToFirstFeaturesMs} ms after navigation`);
    }
  };
  map.on('render', check);
}

async function boot() {
  const hs = S.parseHash(location.hash);
  setLang(hs.lang || storage.get('vigie.lang') || 'fr');
  $('operator').value = storage.get('vigie.operator') || '';
  $('operator').addEventListener('change', () => storage.set('vigie.operator', app.operator()));
  if (!maplibregl) {
    showMapError(t('map.error', { msg: 'MapLibre GL JS was not loaded (web/vendor)' }));
    return;
  }
  maplibregl.setWorkerUrl(`${location.origin}/web/vendor/maplibre-gl/maplibre-gl-csp-worker.js`);

  const [catalog, base, newest] = await Promise.all([getJson('/catalog'), fetchBaseStyle(hs.mode), fetchNewest()]);
  app.catalog = catalog;
  app.base = base;
  app.newest = newest;
  app.perimeterColours = perimeterColours(base);
  for (const th of catalog.themes) app.themes.set(th.id, th);
  for (const l of catalog.layers) app.layersById.set(l.id, l);
  app.state = {
    layers: hs.layers ? hs.layers.filter((id) => app.layersById.has(id)) : catalog.layers.filter((l) => l.visible).map((l) => l.id),
    window: hs.window,
    severity: hs.severity,
    qualification: hs.qualification,
    center: hs.center,
    zoom: hs.zoom,
    lang: currentLang(),
    mode: hs.mode,
  };
  if (!app.state.window) {
    // No window in the link: the last 24 h, unless the log has nothing that recent (an
    // archive, the demo): then the week up to its newest entry.
    app.state.window = S.DEFAULT_WINDOW;
    if (newest && Date.parse(newest.occurred_at) < S.windowBounds(S.DEFAULT_WINDOW)[0]) {
      app.state.window = dataWindow(newest);
      app.jumped = true;
    }
  }
  document.body.classList.toggle('wall', app.state.mode === 'wall');
  $('mode').setAttribute('aria-pressed', String(app.state.mode === 'wall'));
  if (app.state.mode === 'wall') $('mode').dataset.i18n = 'mode.desk';
  app.basemap = resolveBasemap();

  let map;
  try {
    map = new maplibregl.Map({
      container: 'map',
      style: currentStyle(),
      center: app.state.center || base?.center || S.DEFAULT_VIEW.center,
      zoom: app.state.zoom ?? base?.zoom ?? S.DEFAULT_VIEW.zoom,
      attributionControl: { compact: true },
      dragRotate: false,
      pitchWithRotate: false,
      touchPitch: false,
      maxPitch: 0,
      locale:
        currentLang() === 'fr'
          ? {
              'NavigationControl.ZoomIn': 'Zoom avant',
              'NavigationControl.ZoomOut': 'Zoom arrière',
              'NavigationControl.ResetBearing': 'Nord en haut',
              'Map.Title': 'Carte',
              'Popup.Close': 'Fermer',
              'AttributionControl.ToggleAttribution': 'Afficher ou masquer les sources',
              'ScaleControl.Meters': 'm',
              'ScaleControl.Kilometers': 'km',
            }
          : undefined,
    });
  } catch (e) {
    showMapError(t('map.nowebgl') + ` (${e.message})`);
    return;
  }
  app.map = map;
  window.vigieMap = map; // for tests and the console (window.map is the #map element)
  map.touchZoomRotate.disableRotation();
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');
  map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-left');
  app.overlay = createOverlay(map);
  firstFeaturesProbe(map);

  map.on('error', (e) => {
    const msg = e?.error?.message || String(e?.error || 'error');
    if (/abort/i.test(msg)) return;
    console.error('vigie map error', e.error);
    showMapError(t('map.error', { msg }));
  });
  map.on('movestart', () => {
    if (!app.staleTiles) return;
    app.staleTiles = false;
    app.refreshTiles();
  });
  map.on('moveend', () => {
    writeHash();
    app.emit('moveend');
  });

  // One click dispatcher: the active tool, else a popup.
  map.on('click', (e) => {
    if (app.tool) app.tool.onClick?.(e);
    else app.popups.openAt(e.point, e.lngLat);
  });
  map.on('dblclick', (e) => app.tool?.onDblClick?.(e));
  let hoverFrame = 0;
  map.on('mousemove', (e) => {
    if (app.tool) {
      app.tool.onMove?.(e);
      return;
    }
    if (hoverFrame) return;
    hoverFrame = requestAnimationFrame(() => {
      hoverFrame = 0;
      const box = [
        [e.point.x - 4, e.point.y - 4],
        [e.point.x + 4, e.point.y + 4],
      ];
      const layers = app.interactiveLayers.filter((id) => map.getLayer(id));
      map.getCanvas().style.cursor = map.queryRenderedFeatures(box, { layers }).length ? 'pointer' : '';
    });
  });
  document.addEventListener('keydown', (e) => {
    if (!app.tool) {
      // Escape closes an open popup and gives the focus back to the map.
      if (e.key === 'Escape' && app.popups.isOpen()) {
        app.popups.close();
        map.getCanvas().focus();
      }
      return;
    }
    if (e.key === 'Escape') {
      e.preventDefault();
      app.setTool(null);
    } else app.tool.onKey?.(e);
  });

  wireFilters();
  renderFilters();
  renderLayers();
  renderLegend();

  $('lang').addEventListener('click', () => switchLang(currentLang() === 'fr' ? 'en' : 'fr'));
  $('mode').addEventListener('click', () => switchMode(app.state.mode === 'wall' ? 'desk' : 'wall'));
  for (const side of ['left', 'right']) {
    $(`toggle-${side}`).addEventListener('click', (e) => {
      const closed = document.body.classList.toggle(`${side}-closed`);
      e.currentTarget.setAttribute('aria-expanded', String(!closed));
      setTimeout(() => map.resize(), 0);
    });
  }
  window.addEventListener('hashchange', applyHashState);

  app.popups = createPopups(app);
  app.courante = createCourante(app);
  app.form = createEntryForm(app);
  app.region = createRegion(app);
  app.openEntry = (id, geometry) => app.popups.openEntry(id, geometry);
  app.on('entry-event', (e) => app.popups.onEvent(e));
  app.on('lang', () => app.popups.rerender());

  map.on('load', () => {
    applyLayers();
    writeHash();
  });
  app.courante.reload();
  startLive();
  app.region.probe();
}

// ---------------------------------------------------------------- live events

/**
 * A change the server announced (it invalidated the tiles before telling us): refetch now if
 * it touches a visible layer in view, else only at the next move (tiles kept out of view
 * could be stale by then). Refetching means a new `rev`: every tile in view is asked again;
 * MapLibre skips re-parsing those whose ETag did not change.
 */
function onLiveChange(data) {
  const vis = app.visible();
  const heatOn = app.catalog.layers.some((l) => l.kind === 'h3' && vis.has(l.id));
  const layerHit = heatOn || !Array.isArray(data.layers) || data.layers.some((id) => vis.has(id));
  let inView = true;
  const b = data.bbox;
  if (Array.isArray(b) && b.length === 4 && app.map) {
    const v = app.map.getBounds();
    // A margin of half a view: MapLibre keeps the tiles just around the view too.
    const dx = (v.getEast() - v.getWest()) / 2;
    const dy = (v.getNorth() - v.getSouth()) / 2;
    inView = !(b[2] < v.getWest() - dx || b[0] > v.getEast() + dx || b[3] < v.getSouth() - dy || b[1] > v.getNorth() + dy);
  }
  if (layerHit && inView) app.refreshTiles();
  else app.staleTiles = true;
}

function connectLive() {
  const live = $('live');
  const setState = (state, key) => {
    live.dataset.state = state;
    const text = $('live-text');
    text.dataset.i18n = key;
    text.textContent = t(key);
  };
  // After a reconnection of our own, resume after the last event seen (the server replays
  // what was missed); EventSource's own reconnections send Last-Event-ID.
  const es = new EventSource(app.lastSeq ? `/api/events?since=${app.lastSeq}` : '/api/events');
  app.events = es;
  es.onopen = () => setState('on', 'live.on');
  es.onerror = () => setState(es.readyState === EventSource.CLOSED ? 'off' : 'connecting', es.readyState === EventSource.CLOSED ? 'live.off' : 'live.connecting');
  for (const type of ['entry.created', 'entry.updated', 'entry.deleted']) {
    es.addEventListener(type, (ev) => {
      let data;
      try {
        data = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (Number(ev.lastEventId) > (app.lastSeq || 0)) app.lastSeq = Number(ev.lastEventId);
      onLiveChange(data);
      app.emit('entry-event', { type, data });
    });
  }
}

/** Closes the event stream and opens it again (resuming after the last event seen). */
app.reconnectLive = () => {
  app.events?.close();
  connectLive();
};

function startLive() {
  connectLive();
  // EventSource reconnects by itself (sending Last-Event-ID); a stream it gave up on is reopened.
  setInterval(() => {
    if (app.events.readyState === EventSource.CLOSED) connectLive();
  }, 15_000);
}

boot().catch((e) => {
  console.error(e);
  showMapError(t('map.error', { msg: e.message }));
});
