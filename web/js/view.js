// The view's state in the URL and its two page-wide switches. Everything a shared link must
// restore (layers, basemap switches, filters, centre, zoom, language, mode) is written to the
// hash with replaceState; a hash the user navigates to is applied back. Switching the language
// re-renders the panels; switching the mode (desk / wall) loads that mode's base style and
// rebuilds the map style around the same layers and filters.

import { setLang, currentLang, t } from './i18n.js';
import { $, debounce } from './dom.js';
import * as S from './state.js';
import { fetchBaseStyle, perimeterColours } from './style.js';
import { storage } from './app.js';

/** Quiet time before the hash follows the map, ms (a pan fires many moves). */
const HASH_DEBOUNCE_MS = 120;

/** The view controller, bound to the page's shared `app`; follows the user's hash changes. */
export function createView(app) {
  const writeHash = debounce(() => {
    if (!app.map) return;
    const c = app.map.getCenter();
    app.state.center = [c.lng, c.lat];
    app.state.zoom = app.map.getZoom();
    const hash = S.toHash(app.state);
    if (hash !== location.hash) history.replaceState(null, '', hash);
  }, HASH_DEBOUNCE_MS);

  function applyHash() {
    // Only user navigation fires hashchange (the page writes with replaceState).
    const ns = S.parseHash(location.hash);
    if (ns.layers) app.state.layers = ns.layers.filter((id) => app.layersById.has(id) && !app.isBasemap(id));
    app.state.basemap = ns.basemap;
    app.state.greyscale = ns.greyscale;
    if (ns.window) app.state.window = ns.window;
    app.state.severity = ns.severity;
    app.state.qualification = ns.qualification;
    if (ns.center) app.map.jumpTo({ center: ns.center, zoom: ns.zoom });
    if (ns.lang && ns.lang !== currentLang()) switchLang(ns.lang);
    if (ns.mode !== app.state.mode) switchMode(ns.mode);
    app.tiles.apply();
    app.filters.changed();
    app.layerPanel.renderList();
  }

  function switchLang(lang) {
    setLang(lang);
    app.state.lang = lang;
    storage.set('vigie.lang', lang);
    app.filters.render();
    app.layerPanel.renderList();
    app.layerPanel.renderLegend();
    writeHash();
    app.emit('lang');
  }

  async function switchMode(mode) {
    app.state.mode = mode === 'wall' ? 'wall' : 'desk';
    document.body.classList.toggle('wall', app.state.mode === 'wall');
    $('mode').setAttribute('aria-pressed', String(app.state.mode === 'wall'));
    $('mode').dataset.i18n = app.state.mode === 'wall' ? 'mode.desk' : 'mode.wall';
    $('mode').textContent = t($('mode').dataset.i18n);
    app.base = (await fetchBaseStyle(app, app.state.mode)) || app.base;
    app.perimeterColours = perimeterColours(app.base);
    // A new style means a new source: let it take the URL the style builds.
    app.currentTileUrl = null;
    app.map.setStyle(app.tiles.style());
    app.map.once('styledata', () => {
      app.tiles.apply();
      app.emit('style');
    });
    app.layerPanel.renderLegend();
    writeHash();
    setTimeout(() => app.map.resize(), 0);
  }

  window.addEventListener('hashchange', applyHash);
  return { writeHash, applyHash, switchLang, switchMode };
}
