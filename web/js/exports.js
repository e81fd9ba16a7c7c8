// Offline packs (docs/basemaps.md, "Offline packs"): the "Exporter un pack hors ligne" dialog.
//
// A pack is the map as it is shown: the layers of the composite tile URL
// (`app.tiles.visibleIds()`) with the filters that URL carries (`app.filterQuery()`), over the
// view's bounds (or an area of the catalog's département layer once it holds some), from the
// current zoom to four levels in (at most 16 by default). Both lists are shown read-only: to
// change them, change the map. Start is POST /api/exports; the job is then read every 500 ms
// (GET `links.self`) and its bar, rate and time left follow (measured here: the server counts
// tiles, it does not time them) until the Download link of its pack (`links.pack`, an
// attachment) and of its style. Cancel is DELETE, after which the server forgets the job. A
// refusal (400, 404, 413 over the server's tile limit, 429 when two exports of the workspace
// run) shows the problem's `detail` as the server wrote it: it says what to change.
// Below, the asker's exports (GET /api/exports; an admin's: everyone's), read again whenever
// one starts or ends. The button is shown once GET /api/exports answers.

import { t, translate, title, formatTime, formatNumber } from './i18n.js';
import { h, $, replace, problemMessage } from './dom.js';
import { wsUrl } from './app.js';
import { viewBbox } from './courante.js';

/** How often a running export is read, ms. */
const POLL_MS = 500;
/** Highest zoom of a pack (the server's `MAX_ZOOM`). */
const MAX_ZOOM = 24;
/** Zoom levels the default range spans above the current zoom. */
const DEFAULT_ZOOM_SPAN = 4;
/** Highest default maximum zoom: deeper packs grow four times per level. */
const DEFAULT_MAX_ZOOM_CAP = 16;
/** Shortest time over which a rate is shown, ms (shorter, it is noise). */
const MIN_RATE_MS = 250;

/**
 * The default zoom range at map zoom `zoom`: from the zoom floored (within 0..24) to four
 * levels in, at most 16, never below the minimum.
 */
export function defaultZooms(zoom) {
  const min = Math.min(Math.max(Math.floor(Number(zoom) || 0), 0), MAX_ZOOM);
  return { min, max: Math.max(min, Math.min(min + DEFAULT_ZOOM_SPAN, DEFAULT_MAX_ZOOM_CAP)) };
}

/** A size in bytes for people: `612 Ko`, `8,4 Mo` (units from the interface language). */
function formatBytes(bytes) {
  const units = t('exports.units').split(',');
  let v = Number(bytes) || 0;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${formatNumber(i ? Math.round(v * 10) / 10 : v)} ${units[i]}`;
}

/** A duration in whole seconds: `12 s`, `3 min 05 s`. */
function formatSeconds(s) {
  const n = Math.max(0, Math.round(s));
  return n < 60 ? `${n} s` : `${Math.floor(n / 60)} min ${String(n % 60).padStart(2, '0')} s`;
}

/** The offline packs' controller, bound to the page's shared `app`: `{probe, open, close}`. */
export function createExports(app) {
  const dialog = $('exports-dialog');
  const opener = $('exports-open');
  const form = $('exports-form');
  const minzoom = $('exports-minzoom');
  const maxzoom = $('exports-maxzoom');
  const code = $('exports-code');
  const viewChoice = $('exports-area-view');
  const codeChoice = $('exports-area-code');
  const progress = $('exports-progress');

  /** Whether GET /api/exports answered: the asker may export. */
  let available = false;
  /** The view's bounds when the dialog opened, `w,s,e,n` (the map does not move under it). */
  let bbox = '';
  /**
   * The export followed here: `{job, sentMs, endedMs, error, cancelling}` (`sentMs`,
   * `endedMs`: performance.now() when it was asked for and when it was seen ending;
   * `cancelling`: its DELETE is on its way); null before one.
   */
  let current = null;
  let pollTimer = null;
  /** GET /api/exports: the asker's exports; null before the first answer. */
  let jobs = null;
  /** Bumped by every list request: an older answer arriving late is dropped. */
  let listSeq = 0;

  /** The catalog's layer of areas (départements) to export by code, once it holds some; else null. */
  const areaLayer = () => app.catalog.layers.find((l) => l.kind === 'dataset' && (l.key || /departement/.test(l.id)) && l.features > 0) || null;
  const layerName = (id) => {
    const l = app.layersById.get(id);
    return l ? title(l) : id;
  };

  // ------------------------------------------------------------ the request

  function fieldError(msg) {
    $('exports-error').textContent = msg || '';
  }

  function markInvalid(el, on) {
    if (on) el.setAttribute('aria-invalid', 'true');
    else el.removeAttribute('aria-invalid');
  }

  /** Fills the form from the map: its bounds, zoom, layers and filters. */
  function fillForm() {
    bbox = viewBbox(app.map);
    $('exports-bbox').textContent = bbox;
    const zooms = defaultZooms(app.map.getZoom());
    minzoom.value = String(zooms.min);
    maxzoom.value = String(zooms.max);
    for (const el of [minzoom, maxzoom, code]) markInvalid(el, false);
    const area = areaLayer();
    $('exports-area-code-choice').hidden = !area;
    if (!area) viewChoice.checked = true;
    code.hidden = !area || !codeChoice.checked;
    $('exports-code-note').hidden = code.hidden;
    renderLabels();
    renderShown();
    fieldError('');
  }

  /** The layers and filters of the pack, read-only: those of the map. */
  function renderShown() {
    const ids = app.tiles.visibleIds();
    replace(
      $('exports-layers'),
      ids.length ? ids.map((id) => h('li', { dataset: { layer: id } }, layerName(id), ' ', h('code', {}, id))) : h('li', { class: 'muted' }, t('exports.layers.none')),
    );
    const filters = [...new URLSearchParams(app.filterQuery())];
    replace(
      $('exports-filters'),
      filters.length ? filters.map(([k, v]) => h('li', { dataset: { filter: k } }, h('code', {}, `${k}=${v}`))) : h('li', { class: 'muted' }, t('exports.filters.none')),
    );
  }

  /** The texts of the form that name things (the area layer) in the current language. */
  function renderLabels() {
    const area = areaLayer();
    if (!area) return;
    $('exports-area-code-label').textContent = t('exports.area.code', { layer: title(area) });
    code.placeholder = t('exports.area.code.placeholder', { layer: area.id });
    $('exports-code-note').textContent = t('exports.area.code.note', { layer: area.id });
  }

  /** The POST /api/exports body, or null (with the field at fault marked and said) when the form is wrong. */
  function request() {
    fieldError('');
    for (const el of [minzoom, maxzoom, code]) markInvalid(el, false);
    const invalid = (el, msg) => {
      markInvalid(el, true);
      el.focus();
      fieldError(msg);
      return null;
    };
    const zoom = (el) => (el.value.trim() === '' ? NaN : Number(el.value));
    const [lo, hi] = [zoom(minzoom), zoom(maxzoom)];
    for (const [el, z] of [
      [minzoom, lo],
      [maxzoom, hi],
    ]) {
      if (!Number.isInteger(z) || z < 0 || z > MAX_ZOOM) return invalid(el, t('exports.invalid.zoom', { max: MAX_ZOOM }));
    }
    if (lo > hi) return invalid(maxzoom, t('exports.invalid.order'));
    const layers = app.tiles.visibleIds();
    if (!layers.length) {
      fieldError(t('exports.invalid.layers'));
      return null;
    }
    const body = { layers: layers.join(','), minzoom: lo, maxzoom: hi };
    const area = areaLayer();
    if (area && codeChoice.checked) {
      const text = code.value.trim();
      if (!text) return invalid(code, t('exports.invalid.code'));
      body.area = text.includes(':') ? text : `${area.id}:${text}`;
    } else body.bbox = bbox;
    const filters = app.filterQuery();
    if (filters) body.filters = filters;
    return body;
  }

  async function start(e) {
    e.preventDefault();
    if (current?.job.status === 'running') return;
    const body = request();
    if (!body) return;
    const button = $('exports-start');
    button.disabled = true;
    const sentMs = performance.now();
    let r;
    try {
      r = await app.apiFetch('/api/exports', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    } catch (err) {
      fieldError(t('exports.network', { msg: err.message }));
      button.disabled = false;
      return;
    }
    if (r.status !== 202) {
      // The server's words: a 413 names the count and the limit, a 429 the exports running.
      fieldError(await problemMessage(r));
      button.disabled = false;
      return;
    }
    const job = await r.json();
    current = { job, sentMs, endedMs: job.status === 'running' ? null : performance.now(), error: '', cancelling: false };
    renderJob();
    loadList();
    schedule();
  }

  // ------------------------------------------------------------ the export followed

  /**
   * Tiles per second from the request to now, or to the end seen here (a small pack may be
   * written before its 202 comes back: its rate is then the round trip's); null while a
   * running export has not run long enough for a rate to mean anything.
   */
  function rate() {
    const ms = Math.max(1, (current.endedMs ?? performance.now()) - current.sentMs);
    if (current.endedMs === null && ms < MIN_RATE_MS) return null;
    return (Number(current.job.done) * 1000) / ms;
  }

  function renderJob() {
    const box = $('exports-job');
    if (!current) {
      box.hidden = true;
      $('exports-start').disabled = false;
      return;
    }
    const { job } = current;
    const { status } = job;
    box.hidden = false;
    box.dataset.status = status;
    box.dataset.id = String(job.id);
    const total = Math.max(0, Number(job.total) || 0);
    const done = status === 'done' ? total : Math.min(Number(job.done) || 0, total);
    const pct = total ? Math.floor((100 * done) / total) : status === 'done' ? 100 : 0;
    $('exports-job-h').textContent = t('exports.job', { at: formatTime(job.created_at, { timeStyle: 'short' }), status: t(`exports.status.${status}`) });
    progress.max = Math.max(1, total);
    progress.value = total ? done : pct / 100;
    const parts = [t('exports.progress', { done: formatNumber(done), total: formatNumber(total), pct })];
    const perS = rate();
    if (perS !== null && status !== 'cancelled' && status !== 'gone') parts.push(t('exports.rate', { rate: formatNumber(Math.round(perS)) }));
    if (status === 'running' && perS) parts.push(t('exports.left', { left: formatSeconds((total - done) / perS) }));
    const written = job.written;
    if (status === 'done' && written) {
      parts.push(t('exports.written', { stored: formatNumber(written.stored), bytes: formatNumber(written.bytes) }));
    }
    if (status === 'cancelled') parts.push(t('exports.cancelled'));
    if (status === 'gone') parts.push(t('exports.gone'));
    $('exports-progress-text').textContent = parts.join(' · ');
    // A failure's reason, as the server wrote it.
    $('exports-job-error').textContent = status === 'failed' ? job.error || '' : current.error;
    const cancel = $('exports-cancel');
    cancel.hidden = status !== 'running';
    cancel.disabled = !!current.cancelling;
    const download = $('exports-download');
    const style = $('exports-style');
    const basemap = $('exports-basemap');
    download.hidden = status !== 'done';
    style.hidden = status !== 'done';
    // A raster basemap comes in an archive of its own, beside the pack.
    basemap.hidden = status !== 'done' || !job.links.basemap;
    if (status === 'done' && job.links.basemap) {
      basemap.href = wsUrl(job.links.basemap);
      basemap.textContent = t('exports.basemap', { size: formatBytes(written?.basemap?.bytes) });
    }
    if (status === 'done') {
      download.href = wsUrl(job.links.pack);
      download.textContent = t('exports.download', { size: formatBytes(written?.bytes) });
      download.dataset.bytes = String(written?.bytes ?? '');
      style.href = wsUrl(job.links.style);
      style.download = `vigie-export-${job.id}.style.json`;
    }
    $('exports-start').disabled = status === 'running';
  }

  /** Reads the followed export again in POLL_MS, while it runs and the dialog is open. */
  function schedule() {
    clearTimeout(pollTimer);
    pollTimer = null;
    if (dialog.open && current?.job.status === 'running') pollTimer = setTimeout(poll, POLL_MS);
  }

  async function poll() {
    const followed = current;
    if (!followed || followed.job.status !== 'running') return;
    // Cancelled, replaced or closed meanwhile: this answer is no longer wanted.
    const stale = () => current !== followed || followed.job.status !== 'running' || followed.cancelling;
    try {
      const r = await app.apiFetch(followed.job.links.self, { cache: 'no-store' });
      const next = r.ok ? await r.json() : null;
      if (stale()) return;
      if (next) {
        followed.job = next;
        followed.error = '';
      } else if (r.status === 404) followed.job = { ...followed.job, status: 'gone' };
      else followed.error = await problemMessage(r);
    } catch (err) {
      if (stale()) return;
      // The network, once: the next read may get through.
      followed.error = t('exports.network', { msg: err.message });
    }
    if (followed.job.status !== 'running') {
      followed.endedMs = performance.now();
      loadList();
    }
    renderJob();
    schedule();
  }

  async function cancel() {
    const followed = current;
    if (!followed || followed.job.status !== 'running' || followed.cancelling) return;
    followed.cancelling = true;
    renderJob();
    const outcome = await remove(followed.job);
    followed.cancelling = false;
    if (current !== followed) return;
    if (outcome === 'removed' || outcome === 'gone') {
      followed.job = { ...followed.job, status: outcome === 'removed' ? 'cancelled' : 'gone' };
      followed.endedMs = performance.now();
      followed.error = '';
    } else followed.error = outcome;
    renderJob();
    schedule();
  }

  /** DELETE an export: `removed`, `gone` (it was no longer there), or the error to show. */
  async function remove(job) {
    try {
      const r = await app.apiFetch(job.links.self, { method: 'DELETE' });
      const outcome = r.status === 204 ? 'removed' : r.status === 404 ? 'gone' : await problemMessage(r);
      loadList();
      return outcome;
    } catch (err) {
      return t('exports.network', { msg: err.message });
    }
  }

  // ------------------------------------------------------------ the asker's exports

  function listStatus(text, kind = '') {
    const el = $('exports-list-status');
    el.textContent = text;
    el.className = `note${kind ? ` ${kind}` : ''}`;
  }

  async function loadList() {
    const seq = ++listSeq;
    try {
      const r = await app.apiFetch('/api/exports', { cache: 'no-store' });
      if (seq !== listSeq) return;
      if (!r.ok) {
        listStatus(await problemMessage(r), 'warn');
        return;
      }
      jobs = (await r.json()).exports || [];
      if (seq !== listSeq) return;
    } catch (err) {
      if (seq === listSeq) listStatus(t('exports.network', { msg: err.message }), 'warn');
      return;
    }
    renderList();
  }

  function describeArea(req) {
    const where = req.area ? t('exports.desc.area', { area: req.area }) : t('exports.desc.bbox', { bbox: req.bbox });
    return `${where} · z${req.minzoom}–${req.maxzoom}`;
  }

  function renderList() {
    if (!jobs) return;
    listStatus(jobs.length ? '' : t('exports.previous.none'));
    const mine = app.me?.actor;
    const row = (job) => {
      const req = job.request || {};
      const status = job.status;
      const actions = [];
      if (status === 'done') {
        actions.push(
          h('a', { class: 'exports-pack', href: wsUrl(job.links.pack), download: '', dataset: { bytes: String(job.written?.bytes ?? '') } }, t('exports.download', { size: formatBytes(job.written?.bytes) })),
          ' ',
          h('a', { class: 'exports-style', href: wsUrl(job.links.style), download: `vigie-export-${job.id}.style.json` }, t('exports.style')),
        );
        if (job.links.basemap) {
          actions.push(' ', h('a', { class: 'exports-basemap', href: wsUrl(job.links.basemap), download: '' }, t('exports.basemap', { size: formatBytes(job.written?.basemap?.bytes) })));
        }
      }
      actions.push(
        ' ',
        h(
          'button',
          {
            type: 'button',
            class: 'button-quiet small',
            onclick: async (e) => {
              e.currentTarget.disabled = true;
              const outcome = await remove(job);
              if (current?.job.id === job.id && current.job.status === 'running' && outcome === 'removed') {
                current.job = { ...current.job, status: 'cancelled' };
                current.endedMs = performance.now();
                renderJob();
              }
              if (outcome !== 'removed' && outcome !== 'gone') listStatus(outcome, 'warn');
            },
          },
          t(status === 'running' ? 'exports.cancel' : 'exports.remove'),
        ),
      );
      return h(
        'tr',
        { dataset: { id: String(job.id), status } },
        h('td', {}, formatTime(job.created_at, { dateStyle: 'short', timeStyle: 'short' }), job.owner && job.owner !== mine ? h('span', { class: 'muted' }, job.owner) : null),
        h('td', {}, describeArea(req)),
        h(
          'td',
          {},
          String(req.layers || '').split(',').filter(Boolean).map(layerName).join(', '),
          req.filters ? h('span', { class: 'muted' }, [...new URLSearchParams(req.filters)].map(([k, v]) => `${k}=${v}`).join(' · ')) : null,
        ),
        h(
          'td',
          { class: 'state' },
          h('span', { class: `badge exports-status status-${status}` }, t(`exports.status.${status}`)),
          status === 'running' ? ` ${formatNumber(job.done)} / ${formatNumber(job.total)}` : null,
          status === 'failed' ? h('span', { class: 'muted run-error' }, job.error) : null,
        ),
        h('td', {}, actions),
      );
    };
    replace($('exports-rows'), jobs.map(row));
  }

  // ------------------------------------------------------------ the dialog

  function open() {
    if (!available || !app.map) return;
    fillForm();
    renderJob();
    if (!dialog.open) dialog.showModal();
    $('exports-start').focus();
    if (!jobs) listStatus(t('exports.loading'));
    else renderList();
    loadList();
    schedule();
  }

  function close() {
    if (dialog.open) dialog.close();
  }

  function applyRole() {
    opener.hidden = !available || !app.me || !app.map;
    if (opener.hidden) close();
  }

  /** Asks GET /api/exports whether the asker may export (and what they exported). */
  async function probe() {
    try {
      const r = await app.apiFetch('/api/exports', { cache: 'no-store' });
      available = r.ok;
      if (r.ok) jobs = (await r.json()).exports || [];
    } catch {
      available = false;
    }
    applyRole();
  }

  opener.addEventListener('click', open);
  $('exports-close').addEventListener('click', close);
  form.addEventListener('submit', start);
  $('exports-cancel').addEventListener('click', cancel);
  for (const choice of [viewChoice, codeChoice]) {
    choice.addEventListener('change', () => {
      code.hidden = !codeChoice.checked;
      $('exports-code-note').hidden = code.hidden;
      if (codeChoice.checked) code.focus();
    });
  }
  dialog.addEventListener('close', () => {
    clearTimeout(pollTimer);
    pollTimer = null;
    if (!opener.hidden) opener.focus();
  });
  app.on('identity', async () => {
    await probe();
    if (dialog.open) loadList();
  });
  app.on('lang', () => {
    translate(dialog);
    if (dialog.open) {
      renderLabels();
      renderShown();
    }
    renderJob();
    renderList();
  });

  return { probe, open, close };
}
