// Map controls: the one dispatcher of map input (click, double-click, pointer moves, keys) to
// the active tool or else the clusters and popups, the hover cursor (clusters included), map
// errors, moves (hash, stale tiles), the header's language and mode buttons, the side-panel
// toggles, and the probe that times the first rendered features.

import { t, currentLang } from './i18n.js';
import { $ } from './dom.js';
import { showMapError } from './app.js';

/** Half the side of the box under the pointer that makes the cursor a hand, px. */
const HOVER_BOX_PX = 4;

/** Sets `app.timings.navigationToFirstFeaturesMs` at the first frame that shows a catalog feature. */
function firstFeaturesProbe(app, map) {
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

/** Wires the map controls to the page's shared `app` (its map built); nothing to call later. */
export function createControls(app) {
  const map = app.map;
  firstFeaturesProbe(app, map);

  map.on('error', (e) => {
    // A tile or style refused for want of a session: the sign-in dialog, not an error.
    if (e?.error?.status === 401) {
      app.session.lost();
      return;
    }
    const msg = e?.error?.message || String(e?.error || 'error');
    if (/abort/i.test(msg)) return;
    console.error('vigie map error', e.error);
    showMapError(t('map.error', { msg }));
  });
  // Tiles a live change left stale out of view are refetched as soon as the view moves.
  map.on('movestart', () => {
    if (!app.staleTiles) return;
    app.staleTiles = false;
    app.refreshTiles();
  });
  map.on('moveend', () => {
    app.writeHash();
    app.emit('moveend');
  });

  // One click dispatcher: the active tool, else a cluster zoomed into, else a popup.
  map.on('click', (e) => {
    if (app.tool) app.tool.onClick?.(e);
    else if (!app.clusters.zoomAt(e.point)) app.popups.openAt(e.point, e.lngLat);
  });
  map.on('dblclick', (e) => app.tool?.onDblClick?.(e));
  // Hover queries once per frame at most: mousemove fires far more often than the map renders.
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
        [e.point.x - HOVER_BOX_PX, e.point.y - HOVER_BOX_PX],
        [e.point.x + HOVER_BOX_PX, e.point.y + HOVER_BOX_PX],
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

  $('lang').addEventListener('click', () => app.view.switchLang(currentLang() === 'fr' ? 'en' : 'fr'));
  $('mode').addEventListener('click', () => app.view.switchMode(app.state.mode === 'wall' ? 'desk' : 'wall'));
  for (const side of ['left', 'right']) {
    $(`toggle-${side}`).addEventListener('click', (e) => {
      const closed = document.body.classList.toggle(`${side}-closed`);
      e.currentTarget.setAttribute('aria-expanded', String(!closed));
      // The map's container changed size: MapLibre only notices on a window resize.
      setTimeout(() => map.resize(), 0);
    });
  }
}
