// Tiles and layers. One composite vector source carries every visible catalog layer
// (`/tiles/<visible ids>/{z}/{x}/{y}.mvt?<filters>&rev=…`), so a toggle or a filter changes the
// tile request; this module keeps that URL, builds the style, and applies layer visibility,
// the H3 takeover and the heat count to the live map. Archive layers (pmtiles, mbtiles) stay
// out of that URL, each on its own source; the basemap among them (and a `?basemap=` raster)
// follows the panel's basemap switches instead of the layer list.

import { SOURCE_ID, HEAT_MAX_ZOOM, BASEMAP_META, tileUrl, buildStyle, catalogLayerOf, compositeIds, heatCountExpression, isClusterLayer } from './style.js';

/** Shortest gap between two tile refreshes caused by live events, ms. */
const LIVE_REFRESH_MIN_MS = 300;

/** A style expression with every `["get", "count"]` replaced by `count`. */
function withCount(expr, count) {
  if (!Array.isArray(expr)) return expr;
  if (expr.length === 2 && expr[0] === 'get' && expr[1] === 'count') return count;
  return expr.map((x) => withCount(x, count));
}

/** The tiles controller, bound to the page's shared `app`. */
export function createTiles(app) {
  let lastLiveRefresh = 0;
  let liveTimer = null;

  /** Ids of the visible layers the composite source carries (archive layers have their own). */
  function visibleIds() {
    const vis = app.visible();
    return compositeIds(app.catalog, app.catalog.layers.filter((l) => vis.has(l.id)).map((l) => l.id));
  }

  /** Points the composite source at the visible layers and filters (no-op if unchanged). */
  function update() {
    const ids = visibleIds();
    // No layer shown: every style layer is hidden and MapLibre asks for no tile of an unused
    // source, so the previous URL can stay.
    if (!ids.length || !app.map) return;
    const url = tileUrl(ids, app.filterQuery(), app.rev);
    if (url === app.currentTileUrl) return;
    app.currentTileUrl = url;
    app.map.getSource(SOURCE_ID)?.setTiles([url]);
  }

  /** Makes the map refetch its tiles (after a live change): a new `rev`, throttled. */
  function refresh() {
    const wait = lastLiveRefresh + LIVE_REFRESH_MIN_MS - performance.now();
    if (liveTimer) return;
    const run = () => {
      liveTimer = null;
      lastLiveRefresh = performance.now();
      app.rev += 1;
      app.staleTiles = false;
      update();
    };
    if (wait <= 0) run();
    else liveTimer = setTimeout(run, wait);
  }

  function indexStyleLayers(style) {
    app.styleLayers = new Map();
    app.interactiveLayers = [];
    app.clusterLayers = [];
    app.basemapLayers = [];
    for (const l of style.layers) {
      if (l.metadata?.[BASEMAP_META]) {
        app.basemapLayers.push({ id: l.id, type: l.type });
        continue;
      }
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
        cluster: isClusterLayer(l),
      });
      // An archive's features are named by its own layers, not by catalog ids: no popup, no
      // hover, and the first-features probe waits for the operational layers.
      if (l.metadata?.['vigie:archive']) continue;
      app.interactiveLayers.push(l.id);
      if (isClusterLayer(l)) app.clusterLayers.push(l.id);
    }
  }

  /** Applies layer visibility, the H3 takeover and the heat expression to the live map. */
  function apply() {
    const map = app.map;
    const vis = app.visible();
    for (const [id, sls] of app.styleLayers) {
      for (const sl of sls) map.setLayoutProperty(sl.id, 'visibility', vis.has(id) ? 'visible' : 'none');
    }
    for (const bl of app.basemapLayers) {
      map.setLayoutProperty(bl.id, 'visibility', app.state.basemap ? 'visible' : 'none');
      if (bl.type === 'raster') map.setPaintProperty(bl.id, 'raster-saturation', app.state.greyscale ? -1 : 0);
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
    update();
  }

  /** Shows or hides one catalog layer (the layer panel's checkboxes). */
  function setVisible(id, on) {
    const vis = app.visible();
    if (on) vis.add(id);
    else vis.delete(id);
    app.state.layers = app.catalog.layers.filter((l) => vis.has(l.id)).map((l) => l.id);
    apply();
    app.writeHash();
    app.emit('layers');
  }

  /**
   * Shows or hides the basemaps and draws the raster ones in greys or in colour (the layer
   * panel's basemap switches); each left out keeps its value.
   */
  function setBasemap({ shown = app.state.basemap, greyscale = app.state.greyscale } = {}) {
    app.state.basemap = shown;
    app.state.greyscale = greyscale;
    // No 'layers' event: the entry list and a region's figures do not depend on the basemap.
    apply();
    app.writeHash();
  }

  /** The full style for the current mode, layers and filters; indexes its catalog layers. */
  function style() {
    const ids = visibleIds();
    const built = buildStyle({
      base: app.base,
      catalog: app.catalog,
      mode: app.state.mode,
      visible: app.visible(),
      url: app.currentTileUrl || tileUrl(ids.length ? ids : compositeIds(app.catalog, app.catalog.layers.map((l) => l.id)), app.filterQuery(), app.rev),
      basemap: app.basemap,
      overlay: app.overlay ? app.overlay.data() : null,
      archives: app.archives,
      basemapShown: app.state.basemap,
      greyscale: app.state.greyscale,
    });
    app.currentTileUrl = built.sources[SOURCE_ID].tiles[0];
    indexStyleLayers(built);
    return built;
  }

  /**
   * Gives the map a style built again (the catalog changed): MapLibre applies the difference
   * (or rebuilds the style when it cannot), then visibility, the H3 takeover and the heat
   * expression follow. A new `rev` makes every tile come again: a layer kept under the same id
   * may have changed its definition.
   */
  function rebuild() {
    const map = app.map;
    if (!map) return;
    app.rev += 1;
    app.currentTileUrl = null;
    let done = false;
    const finish = (applied) => {
      if (done) return;
      done = true;
      map.off('style.load', onLoad);
      if (!applied) apply();
      app.emit('style');
    };
    const onLoad = () => finish(false);
    map.on('style.load', onLoad);
    map.setStyle(style());
    if (done) return;
    // An object style is diffed at once: 'style.load' has already fired, or nothing changed.
    // When MapLibre could not diff, it loads the style anew and 'style.load' comes later
    // (until then the style refuses changes, hence the catch).
    try {
      apply();
    } catch {
      return;
    }
    finish(true);
  }

  return { update, refresh, apply, setVisible, setBasemap, style, rebuild, visibleIds };
}
