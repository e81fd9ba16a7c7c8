// The page's shared `app` object: every field the modules read or write is declared here, with
// its initial value, so no module adds one on the fly. Modules receive it as `createX(app)`,
// talk through its bus (`app.on` / `app.emit`) and reach each other through the handles below.
// main.js exposes it as `window.vigie` (tests and the console read it).

import { $ } from './dom.js';
import * as S from './state.js';

/** localStorage that never throws (private mode, storage disabled). */
/** The workspace this page belongs to, from its address: `/w/{id}`, or '' for the primary one. */
export const WORKSPACE_PREFIX = (location.pathname.match(/^\/w\/[^/]+/) || [''])[0];

/**
 * An absolute path of the API (`/api/…`, `/catalog`, `/tiles/…`) within this page's
 * workspace; a path that already carries the prefix (links the server wrote) is kept.
 */
export function wsUrl(path) {
  if (!path.startsWith('/') || (WORKSPACE_PREFIX && path.startsWith(`${WORKSPACE_PREFIX}/`))) return path;
  return WORKSPACE_PREFIX + path;
}

export const storage = {
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

/** Methods that change nothing: they need no CSRF token. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

let mapErrorTimer = null;

/** Shows a message over the map for 10 s; an empty message hides it. */
export function showMapError(msg) {
  const el = $('map-error');
  el.textContent = msg;
  el.hidden = !msg;
  clearTimeout(mapErrorTimer);
  if (msg) mapErrorTimer = setTimeout(() => (el.hidden = true), 10_000);
}

/** The shared object, every field at its initial value. */
export function createApp() {
  const app = {
    // ------------------------------------------------ identity (session.js)
    /**
     * GET /api/me (or the sign-in answer): `{kind: account|token|anonymous, name, actor,
     * workspace, role, csrf, can: {write, qualify, admin}}`; null before anyone is known.
     */
    me: null,

    // ------------------------------------------------ data, filled by main.js at start-up
    /** The MapLibre map, once built (null before, or when WebGL is missing). */
    map: null,
    /** GET /catalog: `{name, attribution, version, basemap, themes, layers}` (`app.setCatalog`). */
    catalog: null,
    /** Catalog themes by id. */
    themes: new Map(),
    /** Catalog layers by id. */
    layersById: new Map(),
    /** The base style of the current mode (style.js `fetchBaseStyle`); null without one. */
    base: null,
    /** A same-origin `?basemap=` style URL, or null. */
    basemap: null,
    /** TileJSON of each archive layer of the catalog (pmtiles, mbtiles), by id; null if unreadable (style.js `fetchArchives`). */
    archives: new Map(),
    /** Perimeter colours of the base style, `{silt, red, blue}`. */
    perimeterColours: {},
    /**
     * The view state, what the hash carries: `{layers, window, severity, qualification, center,
     * zoom, lang, mode, basemap, greyscale}` (`layers` never lists the catalog's basemap:
     * `basemap` says whether the basemaps are shown, `greyscale` whether raster ones are grey).
     */
    state: null,
    /** The newest entry of the log (any qualification), or null. */
    newest: null,
    /** Whether the time window was moved to the data's newest week (the time note says so). */
    jumped: false,
    /** Navigation-to-first-rendered-features time, ms (tests/browser/first-features.mjs reads it). */
    timings: { navigationToFirstFeaturesMs: null },

    // ------------------------------------------------ tiles and style (tiles.js)
    /** Tile revision, the `rev` of the tile URL: bumped to make the map refetch after a live change. */
    rev: 0,
    /** The composite source's current tile URL. */
    currentTileUrl: null,
    /** Whether a live change out of view left tiles to refetch at the next move. */
    staleTiles: false,
    /** Catalog layer id -> its style layers `[{id, type, minzoom, maxzoom, filter, paint, cluster}]`. */
    styleLayers: new Map(),
    /** Ids of the style layers that carry catalog features (hover, popups, first-features probe). */
    interactiveLayers: [],
    /** Ids of the style layers that draw clusters of thinned tiles (among `interactiveLayers`). */
    clusterLayers: [],
    /** The basemaps' style layers (the catalog's `basemap`, `?basemap=`): `[{id, type}]`, in no other index. */
    basemapLayers: [],
    /** The page's own drawings (overlay.js `createOverlay`), once the map is built. */
    overlay: null,

    // ------------------------------------------------ live events (live.js)
    /** The open EventSource on /api/events (tests close and reopen it). */
    events: null,
    /** Sequence number of the last event seen (0: none yet), to resume after it. */
    lastSeq: 0,

    // ------------------------------------------------ map tools and region queries
    /** The active map tool (see `setTool`), or null. */
    tool: null,
    /** Whether the server has POST /api/query (region.js probes it). */
    queryAvailable: false,

    // ------------------------------------------------ modules, created by main.js
    /** Sign-in dialog, header identity, role-dependent controls (session.js). */
    session: null,
    /** Composite source, style building, layer visibility (tiles.js). */
    tiles: null,
    /** URL hash, language and mode (view.js). */
    view: null,
    /** Time window, severity and qualification controls (filters.js). */
    filters: null,
    /** Layer list and legend (layers.js). */
    layerPanel: null,
    /** Event stream from /api/events (live.js). */
    live: null,
    /** Feature popups (popup.js). */
    popups: null,
    /** Clusters of thinned tiles: their count labels, a click zooming into one (clusters.js). */
    clusters: null,
    /** Main courante panel (courante.js). */
    courante: null,
    /** New-entry form (form.js). */
    form: null,
    /** Region analysis (region.js). */
    region: null,
    /** The runtime catalog: reload into the page, the admins' editor (catalog.js). */
    catalogEditor: null,
    /** The admins' "Sources & styles" dialog (settings.js). */
    settings: null,
    /** The user's territory on the map (territory.js). */
    territory: null,
    /** The situation reports' dialog: list, editor, compiled parts (reports.js). */
    reports: null,

    /** The bus behind `on` / `emit`. Events: filters, layers, moveend, lang, style, tool, entry-event, report-event, live-resumed, catalog, identity. */
    bus: new EventTarget(),
  };

  /** Calls `fn(detail)` on every `name` event. */
  app.on = (name, fn) => app.bus.addEventListener(name, (e) => fn(e.detail));
  /** Announces `name` with `detail` to every listener. */
  app.emit = (name, detail) => app.bus.dispatchEvent(new CustomEvent(name, { detail }));
  /** The operator's name typed in the header. */
  app.operator = () => ($('operator').value || '').trim();

  /** Whether the identity may do `what` (`write`, `qualify`, `admin`). */
  app.can = (what) => !!app.me?.can?.[what];

  /**
   * fetch for the page's API calls. Changes carry the session's CSRF token; the operator's
   * name goes along only for the anonymous demo identity (the only one the server lets name
   * itself). A 401 means the session is gone: the sign-in dialog comes back.
   */
  app.apiFetch = async (path, opts = {}) => {
    const headers = new Headers(opts.headers || {});
    const method = (opts.method || 'GET').toUpperCase();
    if (app.me?.csrf && !SAFE_METHODS.has(method)) headers.set('X-CSRF-Token', app.me.csrf);
    const who = app.operator();
    if (who && app.me?.kind === 'anonymous') headers.set('X-Vigie-User', who);
    const r = await fetch(wsUrl(path), { ...opts, headers });
    if (r.status === 401) app.session?.lost();
    return r;
  };

  /** Takes a GET /catalog document as the page's catalog (and its theme and layer indexes). */
  app.setCatalog = (catalog) => {
    app.catalog = catalog;
    app.themes = new Map(catalog.themes.map((th) => [th.id, th]));
    app.layersById = new Map(catalog.layers.map((l) => [l.id, l]));
  };

  /** The filters as a query string (tile URLs, the entry list). */
  app.filterQuery = () => S.filterQuery(app.state);
  /** A catalog theme by id, or null. */
  app.themeOf = (id) => app.themes.get(id) || null;
  /** Themes one can file an entry under. */
  app.entryThemes = () => app.catalog.themes.filter((th) => th.entry_tag);
  /** Whether `id` is the catalog's basemap (shown by `state.basemap`, not by `state.layers`). */
  app.isBasemap = (id) => !!id && id === app.catalog?.basemap;
  /** Ids of the visible catalog layers (a fresh set). */
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

  // Shortcuts the modules call without knowing which module answers.
  /** Makes the map refetch its tiles after a live change (throttled; tiles.js). */
  app.refreshTiles = () => app.tiles.refresh();
  /** Writes the view to the URL hash (debounced; view.js). */
  app.writeHash = () => app.view.writeHash();
  /** Closes the event stream and opens it again, resuming after the last event seen (live.js). */
  app.reconnectLive = () => app.live.reconnect();
  /** Opens an entry's popup (popup.js). */
  app.openEntry = (id, geometry) => app.popups.openEntry(id, geometry);
  /** Reads GET /catalog again and rebuilds the panel and the map when its version moved (catalog.js). */
  app.refreshCatalog = () => app.catalogEditor.refresh();

  return app;
}
