// vigie — the hypervision page. Vanilla ES modules, no build step: MapLibre GL JS is the
// vendored UMD build (window.maplibregl, web/vendor/), everything else is in web/js/.
//
// This file only starts the page: it learns who the user is (session.js: GET /api/me, or the
// sign-in dialog, before anything else is fetched), reads the catalog, the base style and the
// newest entry, sets the initial view state (from the URL hash), builds the map and creates
// the modules, which share the `app` object of app.js:
//   session.js   identity, sign-in dialog, sign-out, role-dependent controls
//   tiles.js     composite tile source, style, layer visibility
//   view.js      URL hash, language and mode
//   controls.js  map input dispatch, header buttons, panel toggles
//   filters.js   time window, severity, qualification
//   layers.js    layer list and legend
//   live.js      event stream from /api/events
//   popup.js, courante.js, form.js, region.js  popups, entry list, new entry, region analysis
//   clusters.js  clusters of thinned tiles: count labels, a click zooming into one
//   catalog.js   the catalog changed on the server: panel and style rebuilt; the admins' editor
//   settings.js  the admins' "Sources & styles" dialog: stored sources, their state, map styles
//   territory.js the user's territory outlined, the rest greyed out
//   reports.js   the situation reports: list, sections written together, compiled parts, PDF
//   staffing.js  the staffing ("Armement"): alert level, positions by shift, assignments
//   exports.js   offline packs: the view's layers and filters exported as PMTiles, followed, downloaded

import { t, setLang, currentLang } from './i18n.js';
import { $ } from './dom.js';
import * as S from './state.js';
import { fetchArchives, fetchBaseStyle, perimeterColours } from './style.js';
import { createApp, storage, showMapError } from './app.js';
import { createTiles } from './tiles.js';
import { createView } from './view.js';
import { createControls } from './controls.js';
import { createFilters, fetchNewest, dataWindow } from './filters.js';
import { createLayerPanel } from './layers.js';
import { createLive } from './live.js';
import { createOverlay } from './overlay.js';
import { createCourante } from './courante.js';
import { createPopups } from './popup.js';
import { createClusters } from './clusters.js';
import { createEntryForm } from './form.js';
import { createRegion } from './region.js';
import { createSession } from './session.js';
import { createCatalog } from './catalog.js';
import { createSettings } from './settings.js';
import { createTerritory } from './territory.js';
import { createReports } from './reports.js';
import { createStaffing } from './staffing.js';
import { createExports } from './exports.js';

const maplibregl = window.maplibregl;

/** MapLibre's own labels in French (its default is English). */
const MAP_LOCALE_FR = {
  'NavigationControl.ZoomIn': 'Zoom avant',
  'NavigationControl.ZoomOut': 'Zoom arrière',
  'NavigationControl.ResetBearing': 'Nord en haut',
  'Map.Title': 'Carte',
  'Popup.Close': 'Fermer',
  'AttributionControl.ToggleAttribution': 'Afficher ou masquer les sources',
  'ScaleControl.Meters': 'm',
  'ScaleControl.Kilometers': 'km',
};

const app = createApp();
window.vigie = app; // for tests and the console

async function getJson(url) {
  const r = await app.apiFetch(url);
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

async function boot() {
  const hs = S.parseHash(location.hash);
  setLang(hs.lang || storage.get('vigie.lang') || 'fr');
  $('operator').value = storage.get('vigie.operator') || '';
  $('operator').addEventListener('change', () => storage.set('vigie.operator', app.operator()));
  // Who is this? Nothing else is asked of the server before the answer (or a sign-in).
  app.session = createSession(app);
  await app.session.start();
  if (!maplibregl) {
    showMapError(t('map.error', { msg: 'MapLibre GL JS was not loaded (web/vendor)' }));
    return;
  }
  maplibregl.setWorkerUrl(`${location.origin}/web/vendor/maplibre-gl/maplibre-gl-csp-worker.js`);

  const [catalog, base, newest] = await Promise.all([getJson('/catalog'), fetchBaseStyle(app, hs.mode), fetchNewest(app)]);
  app.setCatalog(catalog);
  // The archive layers' TileJSON (zoom range, attribution, vector layer names) before the style.
  app.archives = await fetchArchives(app, catalog);
  app.base = base;
  app.newest = newest;
  app.perimeterColours = perimeterColours(base);
  const listed = hs.layers ? hs.layers.filter((id) => app.layersById.has(id)) : catalog.layers.filter((l) => l.visible).map((l) => l.id);
  app.state = {
    // The basemap has its own switch (`basemap`), shown unless the link says `basemap=off`.
    layers: listed.filter((id) => !app.isBasemap(id)),
    window: hs.window,
    severity: hs.severity,
    qualification: hs.qualification,
    center: hs.center,
    zoom: hs.zoom,
    lang: currentLang(),
    mode: hs.mode,
    basemap: hs.basemap,
    greyscale: hs.greyscale,
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
  // The mode's layout before the map is built, so that it measures its final container.
  document.body.classList.toggle('wall', app.state.mode === 'wall');
  $('mode').setAttribute('aria-pressed', String(app.state.mode === 'wall'));
  if (app.state.mode === 'wall') $('mode').dataset.i18n = 'mode.desk';
  app.basemap = resolveBasemap();

  app.tiles = createTiles(app);
  let map;
  try {
    map = new maplibregl.Map({
      container: 'map',
      style: app.tiles.style(),
      center: app.state.center || base?.center || S.DEFAULT_VIEW.center,
      zoom: app.state.zoom ?? base?.zoom ?? S.DEFAULT_VIEW.zoom,
      attributionControl: { compact: true },
      dragRotate: false,
      pitchWithRotate: false,
      touchPitch: false,
      maxPitch: 0,
      locale: currentLang() === 'fr' ? MAP_LOCALE_FR : undefined,
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

  app.view = createView(app);
  createControls(app);
  app.filters = createFilters(app);
  app.layerPanel = createLayerPanel(app);
  app.popups = createPopups(app);
  app.clusters = createClusters(app);
  app.courante = createCourante(app);
  app.form = createEntryForm(app);
  app.region = createRegion(app);
  app.live = createLive(app);
  app.catalogEditor = createCatalog(app);
  app.settings = createSettings(app);
  app.territory = createTerritory(app);
  app.reports = createReports(app);
  // Nothing else calls into it: it follows the bus (identity, language, stream) by itself.
  const staffing = createStaffing(app);
  const packs = createExports(app);
  app.session.applyRoles();
  app.on('entry-event', (e) => app.popups.onEvent(e));
  app.on('lang', () => app.popups.rerender());

  map.on('load', () => {
    app.tiles.apply();
    app.writeHash();
  });
  app.courante.reload();
  app.live.start();
  app.region.probe();
  app.reports.probe();
  staffing.probe();
  packs.probe();
}

boot().catch((e) => {
  console.error(e);
  showMapError(t('map.error', { msg: e.message }));
});
