// Area analysis: pick a venue (or one of its perimeters), a département, draw a polygon or a
// circle, or take the current view; POST /api/query answers with the matching entries
// (GeoJSON) and a summary (by theme, severity, qualification), shown in the side panel with
// CSV and GeoJSON exports. When the server has no /api/query (404), the tools stay disabled
// and say why.

import { t, title, formatNumber } from './i18n.js';
import { h, $, replace, debounce, problemMessage } from './dom.js';
import { circlePolygon, distanceM } from './overlay.js';
import { entryItem, viewBbox } from './courante.js';
import { REGION_OUTLINE } from './style.js';
import * as S from './state.js';
import { wsUrl } from './app.js';

/** Entries listed in the panel (the exports carry every match). */
const LIST_LIMIT = 200;

/** Normalises a summary breakdown ({k: n} or [{key, count}] or [[k, n]]) to [[k, n]]. */
function pairs(v) {
  if (!v) return [];
  if (Array.isArray(v)) {
    return v
      .map((x) => (Array.isArray(x) ? x : [x.key ?? x.theme ?? x.layer ?? x.severity ?? x.qualification ?? x.id, x.count ?? x.n ?? x.total]))
      .filter(([k, n]) => k !== undefined && Number.isFinite(Number(n)));
  }
  return Object.entries(v).filter(([, n]) => Number.isFinite(Number(n)));
}

/** The region tool, bound to the page's shared `app`. */
export function createRegion(app) {
  const results = $('region-results');
  const panel = $('region-panel');
  const note = $('region-note');
  const perimeter = $('region-perimeter');
  const buffer = $('region-buffer');
  const buttons = [...document.querySelectorAll('[data-region-tool]')];
  // Areas to click (départements…): a dataset layer named so, once something is imported in it.
  const areaLayer = app.catalog.layers.find((l) => l.kind === 'dataset' && /departement/.test(l.id) && l.features > 0);
  let active = null; // {region, geometry}
  let last = null; // the last answer shown
  let generation = 0;

  function renderPerimeterOptions() {
    const value = perimeter.value || 'blue';
    replace(
      perimeter,
      ['silt', 'red', 'blue'].map((k) => h('option', { value: k }, t(`perimeter.${k}`))),
    );
    perimeter.value = value;
  }

  function setAvailable(ok) {
    app.queryAvailable = ok;
    $('region-tools').classList.toggle('unavailable', !ok);
    for (const b of buttons) {
      b.setAttribute('aria-disabled', String(!ok));
      if (ok) b.removeAttribute('title');
      else b.title = t('region.unavailable');
    }
    perimeter.disabled = !ok;
    buffer.disabled = !ok;
    note.textContent = ok ? '' : t('region.unavailable');
    app.popups?.rerender();
  }

  /** Feature-detects POST /api/query: a 404 means this server does not have it. */
  async function probe() {
    try {
      const r = await app.apiFetch('/api/query', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ bbox: [2.35, 48.85, 2.351, 48.851], limit: 1 }),
      });
      setAvailable(r.status !== 404 && r.status !== 405);
    } catch {
      setAvailable(false);
    }
  }

  /**
   * The query's filters: those of the map (time window, severity, qualification) and the
   * visible themes as tags over the whole log (`layers: entries`), as the list does — so an
   * entry with two themes counts once.
   */
  function filters() {
    const out = { layers: 'entries' };
    const w = app.state.window;
    if (w?.kind === 'last') out.last = w.last;
    else if (w) {
      out.from = w.from;
      if (w.to) out.to = w.to;
    }
    if (app.state.severity > 0) out.severity = app.state.severity;
    const q = S.qualificationParam(app.state.qualification);
    if (q) out.qualification = q;
    const tags = app.visibleEntryTags();
    if (tags && tags.length) out.tags = tags.join(',');
    return out;
  }

  /** The region and filters as GET /api/query parameters (for the export links). */
  function queryString(region, extra) {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries({ ...region, ...filters(), ...extra })) {
      if (v === undefined || v === null) continue;
      if (k === 'bbox') p.set(k, v.join(','));
      else if (k === 'circle') p.set(k, `${v.lon},${v.lat},${v.radius_m}`);
      else if (k === 'area') p.set(k, `${v.layer}:${v.code}`);
      else if (typeof v === 'object') p.set(k, JSON.stringify(v));
      else p.set(k, String(v));
    }
    return p.toString();
  }

  function describe(region) {
    if (region.bbox) {
      const [w, s, e, n] = region.bbox.map((v) => Number(v).toFixed(3));
      return t('region.desc.bbox', { w, s, e, n });
    }
    if (region.circle) return t('region.desc.circle', { r: formatNumber(Math.round(region.circle.radius_m)) });
    if (region.geometry) return t('region.desc.polygon', { n: region.geometry.coordinates[0].length - 1 });
    if (region.venue) return `${t('region.desc.venue', { code: region.venue })}${region.perimeter ? ` — ${t(`perimeter.${region.perimeter}`)}` : ''}`;
    if (region.area) return t('region.desc.area', { layer: title(app.layersById.get(region.area.layer)), code: region.area.code });
    return '';
  }

  function bars(list, colourOf, labelOf) {
    const max = Math.max(1, ...list.map(([, n]) => Number(n)));
    return h(
      'div',
      { class: 'bars' },
      list.map(([k, n]) => [
        h('span', { class: 'bar-label' }, colourOf ? h('span', { class: 'swatch', style: { '--swatch': colourOf(k) } }) : null, labelOf(k)),
        h('span', {}, formatNumber(Number(n))),
        h('div', { class: 'bar-wrap' }, h('div', { class: 'bar', style: { width: `${(100 * Number(n)) / max}%`, '--swatch': colourOf ? colourOf(k) : 'var(--accent)' } })),
      ]),
    );
  }

  function histogram(v) {
    const counts = (Array.isArray(v) ? v : []).map((x) => Number(Array.isArray(x) ? x[1] : typeof x === 'object' && x ? x.count ?? x.n : x)).filter(Number.isFinite);
    if (counts.length < 2) return null;
    const max = Math.max(1, ...counts);
    return h('div', { class: 'histogram', 'aria-hidden': 'true' }, counts.map((n) => h('span', { style: { height: `${(100 * n) / max}%` } })));
  }

  function render(json) {
    const summary = json.summary || {};
    const features = json.features || [];
    const total = summary.total ?? json.numberMatched ?? features.length;
    const entries = features.map((f) => ({ ...(f.properties || {}), id: f.properties?.id ?? f.id, geometry: f.geometry }));
    const byTheme = pairs(summary.by_theme).sort((a, b) => b[1] - a[1]);
    const bySeverity = pairs(summary.by_severity).sort((a, b) => Number(b[0]) - Number(a[0]));
    const byQualification = pairs(summary.by_qualification);
    replace(
      results,
      h('p', {}, h('strong', {}, describe(active.region))),
      h('p', { 'data-total': String(total) }, t('region.total', { n: formatNumber(total) })),
      histogram(summary.histogram),
      byTheme.length ? [h('div', { class: 'legend-title' }, t('region.byTheme')), bars(byTheme, (k) => app.themeOf(k)?.color || '#6b7280', (k) => title(app.themeOf(k)) || k)] : null,
      bySeverity.length ? [h('div', { class: 'legend-title' }, t('region.bySeverity')), bars(bySeverity, null, (k) => t(`severity.${k}`))] : null,
      byQualification.length ? [h('div', { class: 'legend-title' }, t('region.byQualification')), bars(byQualification, null, (k) => t(`qualification.${k}`))] : null,
      h(
        'div',
        { class: 'exports' },
        h('a', { class: 'button-quiet small', id: 'region-csv', href: wsUrl(`/api/query?${queryString(active.region, { format: 'csv' })}`), download: 'vigie-zone.csv' }, t('region.csv')),
        h('a', { class: 'button-quiet small', id: 'region-geojson', href: wsUrl(`/api/query?${queryString(active.region, { limit: 10000 })}`), download: 'vigie-zone.geojson' }, t('region.geojson')),
      ),
      h('div', { class: 'legend-title' }, t('region.entries')),
      entries.length < total ? h('p', { class: 'note' }, t('region.more', { shown: formatNumber(entries.length), total: formatNumber(total) })) : null,
      h('ol', { class: 'entry-list', id: 'region-entries' }, entries.map((e) => entryItem(app, e))),
    );
  }

  function query(region, extra = {}) {
    return app.apiFetch('/api/query', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/geo+json, application/json' },
      body: JSON.stringify({ ...region, ...filters(), ...extra }),
    });
  }

  /** Outlines a venue perimeter or an area picked from the tiles (the API does not return
   * the region's shape); null clears. */
  function outline(region) {
    const map = app.map;
    const set = (id, filter) => map.getLayer(id) && map.setFilter(id, filter);
    set(REGION_OUTLINE.perimeters, region?.venue ? ['all', ['==', ['get', 'venue'], region.venue], ['==', ['get', 'kind'], region.perimeter || 'blue']] : ['boolean', false]);
    set(REGION_OUTLINE.area, region?.area ? ['==', ['to-string', ['get', 'code']], String(region.area.code)] : ['boolean', false]);
  }

  async function run(region, geometry = null) {
    if (!app.queryAvailable) return;
    active = { region, geometry };
    app.overlay.set('region', geometry ? [geometry] : null);
    outline(region);
    panel.hidden = false;
    panel.scrollIntoView({ block: 'start' });
    const gen = ++generation;
    replace(results, h('p', { class: 'note' }, t('region.loading')));
    try {
      const r = await query(region, { limit: LIST_LIMIT });
      if (gen !== generation) return;
      if (!r.ok) throw new Error(await problemMessage(r));
      last = await r.json();
      render(last);
    } catch (e) {
      if (gen !== generation) return;
      replace(results, h('p', { class: 'note warn' }, t('region.error', { msg: e.message })));
    }
  }

  function clear() {
    generation += 1;
    active = null;
    panel.hidden = true;
    app.overlay.set('region', null);
    app.overlay.set('draft', null);
    app.overlay.set('vertex', null);
    outline(null);
  }

  // ------------------------------------------------------------ tools

  function featuresAt(e, catalogIds) {
    // A cluster names no venue nor area: only the layers' own features are picked.
    const layers = catalogIds.flatMap((id) => (app.styleLayers.get(id) || []).filter((s) => !s.cluster).map((s) => s.id)).filter((id) => app.map.getLayer(id));
    return app.map.queryRenderedFeatures(
      [
        [e.point.x - 6, e.point.y - 6],
        [e.point.x + 6, e.point.y + 6],
      ],
      { layers },
    );
  }

  const bufferM = () => Math.max(0, Number(buffer.value) || 0);

  const venueTool = {
    name: 'venue',
    hint: () => t('region.hint.venue'),
    onClick(e) {
      const f = featuresAt(e, ['venues', 'perimeters'])[0];
      if (!f) return;
      app.setTool(null);
      if (f.sourceLayer === 'perimeters') run({ venue: f.properties.venue, perimeter: f.properties.kind, buffer_m: bufferM() });
      else run({ venue: f.properties.code, perimeter: perimeter.value, buffer_m: bufferM() });
    },
  };

  const areaTool = {
    name: 'area',
    hint: () => t('region.hint.area'),
    onClick(e) {
      const f = areaLayer && featuresAt(e, [areaLayer.id])[0];
      const code = f?.properties?.code ?? f?.properties?.code_insee ?? f?.properties?.insee_dep;
      if (!code) return;
      app.setTool(null);
      run({ area: { layer: areaLayer.id, code: String(code) } });
    },
  };

  function polygonTool() {
    const vertices = [];
    const draw = (cursor) => {
      const ring = cursor ? [...vertices, cursor] : [...vertices];
      app.overlay.set('vertex', vertices.map((v) => ({ type: 'Point', coordinates: v })));
      app.overlay.set('draft', ring.length >= 2 ? [{ type: 'LineString', coordinates: ring.length >= 3 ? [...ring, ring[0]] : ring }] : null);
    };
    const finish = () => {
      if (vertices.length < 3) return;
      const geometry = { type: 'Polygon', coordinates: [[...vertices, vertices[0]]] };
      app.setTool(null);
      run({ geometry }, geometry);
    };
    return {
      name: 'polygon',
      noDoubleClickZoom: true,
      hint: () => t('region.hint.polygon'),
      onClick(e) {
        const p = e.lngLat.toArray();
        const last = vertices[vertices.length - 1];
        if (!last || last[0] !== p[0] || last[1] !== p[1]) vertices.push(p);
        draw();
      },
      onMove(e) {
        if (vertices.length) draw(e.lngLat.toArray());
      },
      onDblClick(e) {
        e.preventDefault();
        finish();
      },
      onKey(e) {
        if (e.key === 'Enter') {
          e.preventDefault();
          finish();
        } else if (e.key === 'Backspace' && !/input|textarea|select/i.test(e.target.tagName)) {
          e.preventDefault();
          vertices.pop();
          draw();
        }
      },
      cancel() {
        app.overlay.set('draft', null);
        app.overlay.set('vertex', null);
      },
    };
  }

  function circleTool() {
    let center = null;
    const draw = (edge) => {
      if (!center) return;
      app.overlay.set('vertex', [{ type: 'Point', coordinates: center }]);
      if (edge) app.overlay.set('draft', [circlePolygon(center, distanceM(center, edge))]);
    };
    return {
      name: 'circle',
      hint: () => t('region.hint.circle'),
      onClick(e) {
        const p = e.lngLat.toArray();
        if (!center) {
          center = p;
          draw();
          return;
        }
        const radius = distanceM(center, p);
        if (radius < 1) return;
        const c = center;
        app.setTool(null);
        run({ circle: { lon: c[0], lat: c[1], radius_m: Math.round(radius) } }, circlePolygon(c, radius));
      },
      onMove(e) {
        draw(e.lngLat.toArray());
      },
      cancel() {
        app.overlay.set('draft', null);
        app.overlay.set('vertex', null);
      },
    };
  }

  function startTool(name) {
    if (!app.queryAvailable) return;
    if (name === 'view') {
      app.setTool(null);
      const bbox = viewBbox(app.map).split(',').map(Number);
      const [w, s, e, n] = bbox;
      run({ bbox }, { type: 'Polygon', coordinates: [[[w, s], [e, s], [e, n], [w, n], [w, s]]] });
      return;
    }
    if (app.tool?.name === name) {
      app.setTool(null);
      return;
    }
    app.setTool({ venue: venueTool, area: areaTool, polygon: polygonTool(), circle: circleTool() }[name]);
  }

  for (const b of buttons) b.addEventListener('click', () => startTool(b.dataset.regionTool));
  if (areaLayer) buttons.find((b) => b.dataset.regionTool === 'area').hidden = false;
  $('region-clear').addEventListener('click', clear);
  app.on('tool', (tool) => {
    for (const b of buttons) if (b.hasAttribute('aria-pressed')) b.setAttribute('aria-pressed', String(tool?.name === b.dataset.regionTool));
  });
  const rerun = debounce(() => active && run(active.region, active.geometry), 800);
  app.on('filters', rerun);
  app.on('layers', rerun);
  app.on('entry-event', rerun);
  app.on('lang', () => {
    renderPerimeterOptions();
    setAvailable(app.queryAvailable);
    if (active) rerun();
  });
  renderPerimeterOptions();
  setAvailable(false);
  app.on('style', () => outline(active?.region));
  return {
    probe,
    /** Analyses a region (a venue without a perimeter kind takes the one chosen in the panel). */
    run: (region) => run(region.venue && !region.perimeter ? { ...region, perimeter: perimeter.value } : region),
    clear,
    active: () => active,
    lastResult: () => last,
  };
}
