// The main courante panel: the newest entries under the current filters and visible themes,
// kept current from the event stream (created / updated / deleted refresh their item).

import { t, title, formatTime } from './i18n.js';
import { h, $, replace, debounce, problemMessage, textOn } from './dom.js';

/** Entries per page of the list. */
const PAGE = 50;

const clampLon = (x) => Math.max(-180, Math.min(180, x));
const clampLat = (y) => Math.max(-90, Math.min(90, y));

/** The map's visible box as a `bbox` parameter. */
export function viewBbox(map) {
  const b = map.getBounds();
  return [clampLon(b.getWest()), clampLat(b.getSouth()), clampLon(b.getEast()), clampLat(b.getNorth())].map((v) => v.toFixed(5)).join(',');
}

/** One list item for an entry (API form, or region-query feature properties). */
export function entryItem(app, e, opts = {}) {
  const th = app.themeOf(e.theme);
  const sev = Number(e.severity) || 0;
  const meta = [formatTime(e.occurred_at, { dateStyle: 'short', timeStyle: 'short' }), th ? title(th) : null, e.qualification ? t(`qualification.${e.qualification}`) : null, e.location]
    .filter(Boolean)
    .join(' · ');
  return h(
    'li',
    {
      class: `entry${opts.fresh ? ' fresh' : ''}`,
      'data-entry-id': String(e.id),
      'data-qualification': e.qualification || '',
      style: { '--theme': th?.color || '#6b7280', '--theme-fg': textOn(th?.color || '#6b7280') },
    },
    h(
      'button',
      { type: 'button', class: 'entry-open', onclick: () => app.openEntry(e.id, e.geometry) },
      h('span', { class: 'entry-sev', 'data-sev': String(sev), title: `${t('popup.severity')} : ${t(`severity.${sev}`)}` }, String(sev)),
      h('span', { class: 'entry-title' }, e.title || `#${e.id}`),
      h('span', { class: 'entry-meta' }, meta),
    ),
  );
}

const newestFirst = (a, b) => Date.parse(b.occurred_at) - Date.parse(a.occurred_at) || b.id - a.id;

/** The panel, bound to the page's shared `app`. */
export function createCourante(app) {
  const list = $('courante-list');
  const status = $('courante-status');
  const more = $('courante-more');
  const inView = $('courante-in-view');
  let entries = [];
  let next = null;
  let generation = 0;
  const fresh = new Set();

  function query() {
    const p = new URLSearchParams(app.filterQuery());
    const tags = app.visibleEntryTags();
    if (tags) p.set('tags', tags.join(','));
    if (inView.checked && app.map) p.set('bbox', viewBbox(app.map));
    p.set('limit', String(PAGE));
    return p;
  }

  function inViewOk(e) {
    if (!inView.checked || !app.map || !e.geometry) return true;
    const b = app.map.getBounds();
    const walk = (c) => (typeof c[0] === 'number' ? b.contains(c) : c.some(walk));
    return walk(e.geometry.coordinates);
  }

  function render() {
    const tags = app.visibleEntryTags();
    // Keep the keyboard focus on the entry it was on across live re-renders.
    const focused = list.contains(document.activeElement) ? document.activeElement.closest('[data-entry-id]')?.dataset.entryId : null;
    replace(list, entries.map((e) => entryItem(app, e, { fresh: fresh.has(e.id) })));
    if (focused) list.querySelector(`[data-entry-id="${CSS.escape(focused)}"] button`)?.focus();
    fresh.clear();
    more.hidden = !next;
    if (tags && !tags.length) status.textContent = t('courante.noLayer');
    else if (!entries.length) status.textContent = t('courante.empty');
    else status.textContent = t('courante.count', { n: entries.length });
  }

  async function load(url, append) {
    const gen = ++generation;
    status.textContent = t('courante.loading');
    try {
      const r = await app.apiFetch(url);
      if (gen !== generation) return;
      if (!r.ok) throw new Error(await problemMessage(r));
      const body = await r.json();
      entries = append ? entries.concat(body.entries) : body.entries;
      next = body.next || null;
      render();
    } catch (e) {
      if (gen !== generation) return;
      status.textContent = t('courante.error', { msg: e.message });
    }
  }

  function reload() {
    const tags = app.visibleEntryTags();
    if (tags && !tags.length) {
      generation += 1;
      entries = [];
      next = null;
      render();
      return;
    }
    load(`/api/entries?${query()}`, false);
  }

  async function onEvent({ type, data }) {
    const id = data.entry_id;
    const at = entries.findIndex((e) => e.id === id);
    if (type === 'entry.deleted') {
      if (at >= 0) entries.splice(at, 1);
      render();
      return;
    }
    let e = null;
    try {
      const r = await app.apiFetch(`/api/entries/${id}`);
      if (r.ok) e = await r.json();
    } catch {
      return;
    }
    const idx = entries.findIndex((x) => x.id === id); // the list may have changed meanwhile
    const ok = e && app.entryMatches(e) && inViewOk(e);
    if (!ok) {
      if (idx >= 0) entries.splice(idx, 1);
    } else if (idx >= 0) {
      entries[idx] = e;
      fresh.add(id);
    } else {
      const last = entries[entries.length - 1];
      // Only insert what belongs to the loaded page: newer than its oldest, or all is loaded.
      if (!next || !last || newestFirst(e, last) <= 0) {
        entries.push(e);
        entries.sort(newestFirst);
        fresh.add(id);
      }
    }
    render();
  }

  inView.addEventListener('change', reload);
  more.addEventListener('click', () => next && load(next, true));
  const reloadSoon = debounce(reload, 250);
  app.on('filters', reloadSoon);
  app.on('layers', reloadSoon);
  app.on('moveend', () => inView.checked && reloadSoon());
  app.on('lang', render);
  app.on('entry-event', onEvent);
  return { reload, entries: () => entries };
}
