// Feature popups. Entries show their tile properties at once, then the full entry from
// GET /api/entries/{id}: body (escaped, tiny markdown), http(s) links, photos, and the
// qualification actions the workflow allows (PATCH with If-Match; 412 reloads) — to the
// analyst role and above; others see which role it needs.

import { t, title, formatTime } from './i18n.js';
import { h, replace, markdown, externalLink, problemMessage } from './dom.js';
import { representativePoint } from './overlay.js';
import { wsUrl } from './app.js';

/** Allowed qualification moves: raw → in_review → confirmed | refuted → closed. */
export const NEXT_QUALIFICATION = {
  raw: ['in_review'],
  in_review: ['confirmed', 'refuted'],
  confirmed: ['closed'],
  refuted: ['closed'],
  closed: [],
};

/** The popup controller, bound to the page's shared `app`. */
export function createPopups(app) {
  let popup = null;
  let current = null; // {render: () => void, entryId?: number}

  function close() {
    const p = popup;
    popup = null;
    current = null;
    p?.remove();
    app.overlay.set('selection', null);
  }

  function open(lngLat, root, state) {
    if (popup) {
      popup.off('close', onClose);
      popup.remove();
    }
    current = state;
    popup = new window.maplibregl.Popup({ maxWidth: '400px', focusAfterOpen: true, closeOnClick: false })
      .setLngLat(lngLat)
      .setDOMContent(root)
      .addTo(app.map);
    popup.on('close', onClose);
  }

  function onClose() {
    popup = null;
    current = null;
    app.overlay.set('selection', null);
  }

  /** Features under a point, topmost first, one per (layer, id). */
  function pick(point) {
    const map = app.map;
    const layers = app.interactiveLayers.filter((id) => map.getLayer(id) && map.getLayoutProperty(id, 'visibility') !== 'none');
    const feats = map.queryRenderedFeatures(
      [
        [point.x - 5, point.y - 5],
        [point.x + 5, point.y + 5],
      ],
      { layers },
    );
    const seen = new Set();
    return feats.filter((f) => {
      const key = `${f.sourceLayer}/${f.id ?? JSON.stringify(f.properties)}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  }

  function kindOf(f) {
    return app.layersById.get(f.sourceLayer)?.kind || 'dataset';
  }

  function featureLabel(f) {
    const p = f.properties || {};
    const layer = app.layersById.get(f.sourceLayer);
    if (layer?.kind === 'h3') return `${title(layer)} : ${p.count ?? ''}`;
    return p.title || p.name || p.venue_name || p.code || p.cell || `${title(app.layersById.get(f.sourceLayer))} #${f.id ?? ''}`;
  }

  function othersList(others, lngLat) {
    if (!others.length) return null;
    return h(
      'div',
      { class: 'others' },
      h('div', { class: 'legend-title' }, t('popup.others')),
      h(
        'ul',
        {},
        others.slice(0, 8).map((f, i) =>
          h('li', {}, h('button', { type: 'button', onclick: () => show(f, lngLat, others.filter((_, j) => j !== i)) }, featureLabel(f))),
        ),
      ),
    );
  }

  function row(label, value) {
    if (value === undefined || value === null || value === '') return [];
    return [h('dt', {}, label), h('dd', {}, value)];
  }

  function themeChip(themeId) {
    const th = app.themeOf(themeId);
    if (!th) return themeId || '';
    return h('span', { class: 'theme-chip' }, h('span', { class: 'swatch', style: { '--swatch': th.color } }), title(th));
  }

  // ------------------------------------------------------------ entries

  function normalise(props, id) {
    return {
      ...props,
      id: Number(id ?? props.id),
      severity: Number(props.severity) || 0,
      tags: Array.isArray(props.tags) ? props.tags : String(props.tags || '').split(',').filter(Boolean),
      version: Number(props.version) || undefined,
    };
  }

  /** Re-places the open popup after its content changed size (MapLibre picks the anchor
   * side from the size at placement time only). */
  function reanchor() {
    if (popup) popup.setLngLat(popup.getLngLat());
  }

  function renderEntry(root, e, full, msg, others, lngLat) {
    const moves = full && !e.deleted ? NEXT_QUALIFICATION[e.qualification] || [] : [];
    const actions = app.can('qualify')
      ? moves.map((q) =>
          h('button', { type: 'button', class: q === 'refuted' ? 'button-quiet' : 'button', 'data-action': q, onclick: () => qualify(root, e, q, others, lngLat) }, t(`action.${q}`)),
        )
      : [];
    const needsRole = moves.length && !actions.length ? h('p', { class: 'note', 'data-needs-role': 'analyst' }, t('role.needs.qualify', { role: t(`role.${app.me?.role}`) })) : null;
    const photos = full ? (e.attachments || []).filter((a) => /^image\//.test(a.media_type || 'image/')) : [];
    const links = full ? (e.links || []) : [];
    replace(
      root,
      h('h3', {}, e.title || `#${e.id}`),
      h(
        'dl',
        {},
        row(t('popup.theme'), themeChip(e.theme)),
        row(t('popup.severity'), t(`severity.${e.severity}`)),
        row(t('popup.qualification'), e.qualification ? t(`qualification.${e.qualification}`) : ''),
        row(t('popup.occurred'), formatTime(e.occurred_at)),
        row(t('popup.reported'), formatTime(e.reported_at)),
        row(t('popup.recorded'), formatTime(e.recorded_at)),
        row(t('popup.location'), e.location),
        row(t('popup.source'), e.source),
        row(t('popup.author'), e.author),
      ),
      full ? h('div', { class: 'body' }, markdown(e.body)) : h('p', { class: 'note' }, e.deleted === true ? t('popup.gone') : t('popup.loading')),
      links.length
        ? h('div', {}, h('div', { class: 'legend-title' }, t('popup.links')), h('ul', { class: 'links' }, links.map((l) => h('li', {}, externalLink(l.url, l.title)))))
        : null,
      photos.length
        ? h(
            'div',
            {},
            h('div', { class: 'legend-title' }, t('popup.photos')),
            h(
              'div',
              { class: 'photos' },
              photos.map((a) => {
                const url = wsUrl(`/api/attachments/${encodeURIComponent(a.sha256)}?entry=${e.id}`);
                return h('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, h('img', { src: url, alt: a.filename || t('popup.photos'), loading: 'lazy' }));
              }),
            ),
          )
        : null,
      actions.length ? h('div', { class: 'actions' }, actions) : needsRole,
      msg ? h('p', { class: `msg${msg.err ? ' err' : ''}`, role: 'status' }, msg.text) : null,
      othersList(others, lngLat),
    );
    reanchor();
    for (const img of root.querySelectorAll('img')) img.addEventListener('load', reanchor, { once: true });
  }

  async function loadEntry(id) {
    const r = await app.apiFetch(`/api/entries/${id}`);
    if (r.status === 404) return { deleted: true, id };
    if (!r.ok) throw new Error(await problemMessage(r));
    return r.json();
  }

  function showEntry(id, props, lngLat, others) {
    const root = h('div', { class: 'popup', 'data-entry-id': String(id) });
    let entry = props ? normalise(props, id) : { id };
    let full = false;
    const render = (msg) => renderEntry(root, entry, full, msg, others, lngLat);
    const refresh = async (msg) => {
      try {
        const e = await loadEntry(id);
        if (current?.entryId !== id) return;
        entry = e.deleted ? { ...entry, deleted: true } : e;
        full = !e.deleted;
        render(e.deleted ? { text: t('popup.gone'), err: true } : msg);
        if (e.geometry) app.overlay.set('selection', [e.geometry]);
      } catch (err) {
        render({ text: t('action.failed', { msg: err.message }), err: true });
      }
    };
    render();
    open(lngLat, root, { entryId: id, refresh, render: () => render() });
    refresh();
  }

  async function qualify(root, e, next, others, lngLat) {
    for (const b of root.querySelectorAll('[data-action]')) b.disabled = true;
    let msg = null;
    try {
      const r = await app.apiFetch(`/api/entries/${e.id}`, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/merge-patch+json', 'If-Match': `"${e.version}"` },
        body: JSON.stringify({ qualification: next }),
      });
      if (r.status === 412) msg = { text: t('action.stale'), err: true };
      else if (r.status === 422) {
        const body = await r.json().catch(() => ({}));
        msg = { text: (body.errors || []).map((x) => `${x.field}: ${x.reason}`).join(' ; ') || t('action.failed', { msg: 'HTTP 422' }), err: true };
      } else if (!r.ok) msg = { text: t('action.failed', { msg: await problemMessage(r) }), err: true };
    } catch (err) {
      msg = { text: t('action.failed', { msg: err.message }), err: true };
    }
    // Success or not, show the entry as the server has it now.
    if (current?.entryId === e.id) await current.refresh(msg);
  }

  // ------------------------------------------------------------ other kinds

  function showVenue(f, lngLat, others) {
    const p = f.properties;
    const span = (a, b) => (a ? `${formatTime(a, { dateStyle: 'medium' })} → ${formatTime(b, { dateStyle: 'medium' })}` : '');
    const root = h(
      'div',
      { class: 'popup' },
      h('h3', {}, `${p.name || ''} (${p.code || ''})`),
      h(
        'dl',
        {},
        row(t('popup.venue.kind'), p.kind),
        row(t('popup.venue.city'), p.city),
        row(t('popup.venue.sports'), p.sports),
        row(t('popup.venue.olympic'), span(p.olympic_start, p.olympic_end)),
        row(t('popup.venue.paralympic'), span(p.paralympic_start, p.paralympic_end)),
      ),
      regionButton({ venue: p.code }),
      othersList(others, lngLat),
    );
    open(lngLat, root, { render: () => showVenue(f, lngLat, others) });
  }

  function showPerimeter(f, lngLat, others) {
    const p = f.properties;
    const windows = String(p.windows || '')
      .split(',')
      .filter(Boolean)
      .map((w) => w.split('/').map((x) => formatTime(x, { dateStyle: 'short', timeStyle: 'short' })).join(' → '));
    const root = h(
      'div',
      { class: 'popup' },
      h('h3', {}, `${p.venue_name || p.venue || ''}`),
      h(
        'dl',
        {},
        row(t('popup.perimeter.kind'), h('span', { class: 'theme-chip' }, h('span', { class: 'swatch', style: { '--swatch': app.perimeterColours[p.kind] || '#999' } }), t(`perimeter.${p.kind}`))),
        row(t('popup.perimeter.windows'), windows.length ? h('ul', { class: 'links' }, windows.map((w) => h('li', {}, w))) : formatTime(p.active_from)),
      ),
      regionButton({ venue: p.venue, perimeter: p.kind }),
      othersList(others, lngLat),
    );
    open(lngLat, root, { render: () => showPerimeter(f, lngLat, others) });
  }

  function showGeneric(f, lngLat, others) {
    const p = f.properties || {};
    const layer = app.layersById.get(f.sourceLayer);
    const isH3 = layer?.kind === 'h3';
    const root = h(
      'div',
      { class: 'popup' },
      h('h3', {}, isH3 ? `${title(layer)} — ${p.cell || ''}` : featureLabel(f)),
      h(
        'dl',
        {},
        isH3 ? [row(t('popup.h3.count'), p.count), row(t('popup.h3.max'), p.max_severity !== undefined ? t(`severity.${p.max_severity}`) : '')] : [],
        Object.entries(p)
          .filter(([k]) => !(isH3 && ['cell', 'count', 'max_severity'].includes(k)))
          .map(([k, v]) => {
            const th = app.themeOf(k) || app.themeOf(k.replace(/^n_/, ''));
            return row(th ? title(th) : k, String(v));
          }),
      ),
      othersList(others, lngLat),
    );
    open(lngLat, root, { render: () => showGeneric(f, lngLat, others) });
  }

  function regionButton(region) {
    if (!app.queryAvailable || !region.venue) return null;
    return h('div', { class: 'actions' }, h('button', { type: 'button', class: 'button-quiet', onclick: () => app.region.run({ venue: region.venue, perimeter: region.perimeter }) }, t('popup.region')));
  }

  function show(f, lngLat, others = []) {
    const kind = kindOf(f);
    if (kind === 'entries') {
      showEntry(Number(f.id ?? f.properties.id), f.properties, lngLat, others);
      return;
    }
    app.overlay.set('selection', f.geometry && f.geometry.type !== 'Point' ? [f.geometry] : null);
    if (kind === 'venues') showVenue(f, lngLat, others);
    else if (kind === 'perimeters') showPerimeter(f, lngLat, others);
    else showGeneric(f, lngLat, others);
  }

  return {
    close,
    isOpen: () => !!popup,
    /** Opens the popup of the topmost feature under a screen point. */
    openAt(point, lngLat) {
      const feats = pick(point);
      if (!feats.length) {
        close();
        return;
      }
      show(feats[0], lngLat, feats.slice(1));
    },
    /** Opens an entry's popup (from the list), bringing it into view. */
    async openEntry(id, geometry) {
      let g = geometry;
      if (!g) {
        try {
          g = (await loadEntry(id)).geometry;
        } catch {
          g = null;
        }
      }
      const at = g ? representativePoint(g) : null;
      if (!at) return;
      const map = app.map;
      if (!map.getBounds().contains(at) || map.getZoom() < 12) map.easeTo({ center: at, zoom: Math.max(map.getZoom(), 13), duration: 600 });
      if (g) app.overlay.set('selection', [g]);
      showEntry(id, null, at, []);
    },
    /** Follows live changes of the open entry. */
    onEvent({ data }) {
      if (current?.entryId === data.entry_id) current.refresh();
    },
    rerender() {
      current?.render?.();
    },
    /** Reloads the open entry from the server (after signing in again). */
    refreshOpen() {
      current?.refresh?.();
    },
  };
}
