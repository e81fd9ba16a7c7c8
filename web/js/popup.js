// Feature popups. Entries show their tile properties at once, then the full entry from
// GET /api/entries/{id}: body (escaped, tiny markdown), http(s) links, photos, and the
// qualification actions the workflow allows (PATCH with If-Match; 412 reloads) — to the
// analyst role and above; others see which role it needs. Title and description are edited,
// and the entry deleted, by whoever the server lets (an analyst, or the contributor who wrote
// it).
// Between workspaces (docs/escalation.md; the tree from GET /api/workspace, asked once per
// page): an entry is escalated to the parent workspace or sent down to children, and the copy
// withdrawn again, by contributors and above. A copy says whose entry it follows and is only
// qualified and commented here. Comments show on every entry. After each action the popup
// shows the entry as the server has it then, with what happened.

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
    // A cluster stands for many features, none of which has a popup of its own: a click on it
    // zooms in instead (clusters.js).
    const clusters = new Set(app.clusterLayers);
    const layers = app.interactiveLayers.filter((id) => !clusters.has(id) && map.getLayer(id) && map.getLayoutProperty(id, 'visibility') !== 'none');
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
    return p.title || p.name || p.venue_name || p.label || p.code || p.cell || `${title(app.layersById.get(f.sourceLayer))} #${f.id ?? ''}`;
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

  /** What a refused request says: the fields' reasons (422), else its problem detail. */
  async function failure(r) {
    if (r.status === 412) return { text: t('action.stale'), err: true };
    const body = await r.json().catch(() => ({}));
    const reasons = (body.errors || []).map((x) => (x.field ? `${x.field}: ${x.reason}` : x.reason)).join(' ; ');
    return { text: reasons || t('action.failed', { msg: body.detail || body.title || `HTTP ${r.status}` }), err: true };
  }

  /**
   * Runs a change of the open entry `e`: the popup's controls off, `request()`, then the entry
   * as the server has it now, with `ok` (a message, or null) or what went wrong. `done` runs
   * on success, before the popup is drawn again.
   */
  async function act(root, e, request, { ok = null, done = null } = {}) {
    for (const el of root.querySelectorAll('button, input, textarea')) el.disabled = true;
    let msg = null;
    try {
      const r = await request();
      if (r.ok) {
        done?.(await r.json().catch(() => null));
        msg = ok ? { text: typeof ok === 'function' ? ok() : ok } : null;
      } else msg = await failure(r);
    } catch (err) {
      msg = { text: t('action.failed', { msg: err.message }), err: true };
    }
    // Success or not, show the entry as the server has it now.
    if (current?.entryId === e.id) await current.refresh(msg);
  }

  const jsonBody = (value, headers = {}) => ({ headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(value) });

  /** Whether the user may edit and delete `e` (the server decides in the end): not a copy;
   * an analyst any entry, a contributor their own. */
  const mayEdit = (e) => !e.copy_of && (app.can('qualify') || (app.can('write') && !!e.author && e.author === app.me?.name));

  /** Edit (title, description) and delete, for who may: the form when editing. */
  function editBlock(root, e, ui) {
    if (!mayEdit(e)) return null;
    if (ui.editing) {
      const draft = ui.editing;
      const save = () => {
        const patch = {};
        if (draft.title !== (e.title || '')) patch.title = draft.title;
        if (draft.body !== (e.body || '')) patch.body = draft.body;
        if (!Object.keys(patch).length) {
          ui.editing = null;
          current?.render?.({ text: t('edit.unchanged') });
          return;
        }
        act(root, e, () => app.apiFetch(`/api/entries/${e.id}`, { method: 'PATCH', ...jsonBody(patch, { 'Content-Type': 'application/merge-patch+json', 'If-Match': `"${e.version}"` }) }), {
          ok: () => t('edit.saved'),
          done: () => (ui.editing = null),
        });
      };
      return h(
        'form',
        { class: 'popup-form', 'data-edit-form': '', onsubmit: (ev) => (ev.preventDefault(), save()) },
        h('div', { class: 'form-row' }, h('label', { for: `p-title-${e.id}` }, t('form.field.title')), h('input', { type: 'text', id: `p-title-${e.id}`, name: 'title', value: draft.title, oninput: (ev) => (draft.title = ev.target.value) })),
        h('div', { class: 'form-row' }, h('label', { for: `p-body-${e.id}` }, t('form.field.body')), textarea({ id: `p-body-${e.id}`, name: 'body', rows: '4' }, draft.body, (v) => (draft.body = v))),
        h(
          'div',
          { class: 'actions' },
          h('button', { type: 'submit', class: 'button' }, t('edit.save')),
          h('button', { type: 'button', class: 'button-quiet', onclick: () => ((ui.editing = null), current?.render?.()) }, t('edit.cancel')),
        ),
      );
    }
    if (ui.deleting) {
      return h(
        'div',
        { class: 'confirm', role: 'group', 'aria-label': t('edit.delete') },
        h('p', { class: 'note warn' }, t('edit.delete.confirm')),
        h(
          'div',
          { class: 'actions' },
          h(
            'button',
            {
              type: 'button',
              class: 'button danger',
              onclick: () =>
                act(root, e, () => app.apiFetch(`/api/entries/${e.id}`, { method: 'DELETE', headers: { 'If-Match': `"${e.version}"` } }), { ok: () => t('edit.deleted'), done: () => (ui.deleting = false) }),
            },
            t('edit.delete.yes'),
          ),
          h('button', { type: 'button', class: 'button-quiet', onclick: () => ((ui.deleting = false), current?.render?.()) }, t('edit.delete.no')),
        ),
      );
    }
    return h(
      'div',
      { class: 'actions' },
      h('button', { type: 'button', class: 'button-quiet', 'data-edit': 'fields', onclick: () => ((ui.editing = { title: e.title || '', body: e.body || '' }), current?.render?.()) }, t('edit.open')),
      h('button', { type: 'button', class: 'button-quiet', 'data-edit': 'delete', onclick: () => ((ui.deleting = true), current?.render?.()) }, t('edit.delete')),
    );
  }

  /** A textarea holding `value` (its content, not an attribute), `onInput(value)` as typed. */
  function textarea(attrs, value, onInput) {
    const el = h('textarea', { ...attrs, oninput: (ev) => onInput(ev.target.value) });
    el.value = value;
    return el;
  }

  /** "Copy of entry N of {workspace} — follows it": on a copy of another workspace's entry. */
  function copyBanner(e) {
    const link = e.copy_of;
    if (!link) return null;
    const q = link.source.qualification;
    return h(
      'div',
      { class: 'copy-banner', role: 'note', 'data-copy-of': `${link.source.workspace}/${link.source.entry}` },
      h('p', {}, t('escalation.copy', { entry: link.source.entry, workspace: link.source.workspace, qualification: q ? t(`qualification.${q}`) : t('escalation.copy.unknown') })),
      h('p', { class: 'note' }, t('escalation.copy.note', { workspace: link.source.workspace })),
    );
  }

  /**
   * Escalation and sending down: where the entry's copies are (each withdrawn by a
   * contributor and above), "Escalate to {parent}" while the parent has none, and the children
   * to send it to.
   */
  function escalationBlock(root, e, tree, ui) {
    const write = app.can('write');
    const copies = e.copies || [];
    const up = copies.filter((c) => c.direction === 'up');
    const down = copies.filter((c) => c.direction === 'down');
    // A copy of the parent's (or a child's) entry does not go back there as a copy of the copy.
    const from = e.copy_of?.source.workspace;
    const withdraw = (c, label, ok) =>
      h(
        'button',
        {
          type: 'button',
          class: 'button-quiet small',
          'data-withdraw': c.target.workspace,
          'aria-label': t(`${label}.aria`, { workspace: c.target.workspace }),
          onclick: () => act(root, e, () => app.apiFetch(`/api/entries/${e.id}/copies/${encodeURIComponent(c.target.workspace)}`, { method: 'DELETE' }), { ok: () => t(ok, { workspace: c.target.workspace }) }),
        },
        t(label),
      );
    const parts = [];
    for (const c of up) {
      parts.push(h('p', { class: 'copy-line', 'data-escalated': c.target.workspace }, h('span', {}, t('escalation.escalated', { workspace: c.target.workspace, entry: c.target.entry })), write ? withdraw(c, 'escalation.deescalate', 'escalation.deescalated') : null));
    }
    const parent = tree.parent;
    if (write && parent && parent !== from && !up.some((c) => c.target.workspace === parent)) {
      parts.push(
        h(
          'div',
          { class: 'actions' },
          h(
            'button',
            {
              type: 'button',
              class: 'button',
              'data-escalate': parent,
              onclick: () => act(root, e, () => app.apiFetch(`/api/entries/${e.id}/escalate`, { method: 'POST' }), { ok: () => t('escalation.escalate.done', { workspace: parent }) }),
            },
            t('escalation.escalate', { workspace: parent }),
          ),
        ),
      );
    }
    if (down.length) {
      parts.push(h('ul', { class: 'copies' }, down.map((c) => h('li', { class: 'copy-line', 'data-sent': c.target.workspace }, h('span', {}, t('escalation.sent', { workspace: c.target.workspace, entry: c.target.entry })), write ? withdraw(c, 'escalation.recall', 'escalation.recalled') : null))));
    }
    const free = (tree.children || []).filter((w) => w !== from && !down.some((c) => c.target.workspace === w));
    if (write && free.length) {
      if (ui.sending) {
        const chosen = ui.sending;
        const submit = h('button', { type: 'submit', class: 'button', disabled: !free.some((w) => chosen.has(w)) }, t('escalation.send.submit'));
        const send = () => {
          const to = free.filter((w) => chosen.has(w));
          if (!to.length) return;
          act(root, e, () => app.apiFetch(`/api/entries/${e.id}/send`, { method: 'POST', ...jsonBody({ to }) }), {
            ok: () => t('escalation.send.done', { list: to.join(', ') }),
            done: () => (ui.sending = null),
          });
        };
        parts.push(
          h(
            'form',
            { class: 'popup-form', 'data-send-form': '', onsubmit: (ev) => (ev.preventDefault(), send()) },
            h(
              'fieldset',
              {},
              h('legend', { class: 'form-label' }, t('escalation.send.legend')),
              free.map((w) =>
                h(
                  'label',
                  { class: 'inline-check' },
                  h('input', {
                    type: 'checkbox',
                    name: `send-${w}`,
                    value: w,
                    checked: chosen.has(w),
                    onchange: (ev) => {
                      if (ev.target.checked) chosen.add(w);
                      else chosen.delete(w);
                      submit.disabled = !free.some((x) => chosen.has(x));
                    },
                  }),
                  ` ${w}`,
                ),
              ),
            ),
            h('div', { class: 'actions' }, submit, h('button', { type: 'button', class: 'button-quiet', onclick: () => ((ui.sending = null), current?.render?.()) }, t('escalation.send.cancel'))),
          ),
        );
      } else {
        parts.push(h('div', { class: 'actions' }, h('button', { type: 'button', class: 'button-quiet', 'data-send': '', onclick: () => ((ui.sending = new Set()), current?.render?.()) }, t('escalation.send'))));
      }
    }
    if (!parts.length) return null;
    return h('div', { class: 'escalation' }, h('div', { class: 'legend-title' }, t('escalation.title')), parts);
  }

  /** The entry's comments (this workspace's side), and the form to add one for who may write. */
  function commentsBlock(root, e, ui) {
    const comments = e.comments || [];
    const write = app.can('write');
    if (!comments.length && !write) return null;
    const add = () => {
      const body = ui.comment.trim();
      if (!body) {
        current?.render?.({ text: t('comments.empty'), err: true });
        return;
      }
      act(root, e, () => app.apiFetch(`/api/entries/${e.id}/comments`, { method: 'POST', ...jsonBody({ body }) }), {
        ok: () => t('comments.added'),
        done: () => (ui.comment = ''),
      });
    };
    return h(
      'div',
      { class: 'comments' },
      h('div', { class: 'legend-title' }, t('comments.title', { n: comments.length })),
      comments.length
        ? h(
            'ol',
            {},
            comments.map((c) => h('li', { 'data-comment': String(c.seq) }, h('div', { class: 'comment-meta' }, `${c.author} · ${formatTime(c.at)}`), h('div', { class: 'comment-body' }, markdown(c.body)))),
          )
        : null,
      write
        ? h(
            'form',
            { class: 'popup-form', 'data-comment-form': '', onsubmit: (ev) => (ev.preventDefault(), add()) },
            h('label', { for: `p-comment-${e.id}`, class: 'form-label' }, t('comments.label')),
            textarea({ id: `p-comment-${e.id}`, name: 'comment', rows: '2' }, ui.comment, (v) => (ui.comment = v)),
            h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button-quiet' }, t('comments.submit'))),
          )
        : null,
    );
  }

  function renderEntry(root, e, full, msg, others, lngLat, tree, ui) {
    const moves = full && !e.deleted ? NEXT_QUALIFICATION[e.qualification] || [] : [];
    const actions = app.can('qualify')
      ? moves.map((q) =>
          h('button', { type: 'button', class: q === 'refuted' ? 'button-quiet' : 'button', 'data-action': q, onclick: () => qualify(root, e, q) }, t(`action.${q}`)),
        )
      : [];
    const needsRole = moves.length && !actions.length ? h('p', { class: 'note', 'data-needs-role': 'analyst' }, t('role.needs.qualify', { role: t(`role.${app.me?.role}`) })) : null;
    const photos = full ? (e.attachments || []).filter((a) => /^image\//.test(a.media_type || 'image/')) : [];
    const links = full ? (e.links || []) : [];
    const live = full && !e.deleted;
    // A field being typed in keeps the focus (and its caret) when a live change redraws.
    const focused = root.contains(document.activeElement) ? document.activeElement : null;
    const focusName = focused?.name;
    const caret = focusName && 'selectionStart' in focused ? [focused.selectionStart, focused.selectionEnd] : null;
    replace(
      root,
      h('h3', {}, e.title || `#${e.id}`),
      live ? copyBanner(e) : null,
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
      live ? editBlock(root, e, ui) : null,
      live ? escalationBlock(root, e, tree, ui) : null,
      live ? commentsBlock(root, e, ui) : null,
      msg ? h('p', { class: `msg${msg.err ? ' err' : ''}`, role: 'status' }, msg.text) : null,
      othersList(others, lngLat),
    );
    if (focusName) {
      const again = root.querySelector(`[name="${CSS.escape(focusName)}"]`);
      again?.focus();
      if (again && caret && 'setSelectionRange' in again) again.setSelectionRange(...caret);
    }
    reanchor();
    // What an action did is said at the bottom: scrolled into the popup's view (the popup
    // only: scrollIntoView would also move the page's overflow-hidden containers).
    const said = msg ? root.querySelector(':scope > .msg') : null;
    if (said) {
      const [m, box] = [said.getBoundingClientRect(), root.getBoundingClientRect()];
      if (m.bottom > box.bottom) root.scrollTop += m.bottom - box.bottom;
    }
    for (const img of root.querySelectorAll('img')) img.addEventListener('load', reanchor, { once: true });
  }

  async function loadEntry(id) {
    const r = await app.apiFetch(`/api/entries/${id}`);
    if (r.status === 404) return { deleted: true, id };
    if (!r.ok) throw new Error(await problemMessage(r));
    return r.json();
  }

  /**
   * GET /api/workspace, asked once per page: `{id, parent, children}`. Until it answers (or
   * when it fails: asked again next time), no parent and no children.
   */
  let asked = null;
  const NO_TREE = { id: null, parent: null, children: [] };
  function workspaceTree() {
    asked ||= app
      .apiFetch('/api/workspace')
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`HTTP ${r.status}`))))
      .catch(() => {
        asked = null;
        return NO_TREE;
      });
    return asked;
  }

  function showEntry(id, props, lngLat, others) {
    const root = h('div', { class: 'popup', 'data-entry-id': String(id) });
    let entry = props ? normalise(props, id) : { id };
    let full = false;
    let ws = NO_TREE;
    /** What the user has open or typed in this popup, kept across redraws. */
    const ui = { editing: null, deleting: false, sending: null, comment: '' };
    const render = (msg) => renderEntry(root, entry, full, msg, others, lngLat, ws, ui);
    const refresh = async (msg) => {
      try {
        const [e, w] = await Promise.all([loadEntry(id), workspaceTree()]);
        if (current?.entryId !== id) return;
        entry = e.deleted ? { ...entry, deleted: true } : e;
        full = !e.deleted;
        ws = w;
        render(e.deleted ? { text: t('popup.gone'), err: !msg || msg.err } : msg);
        if (e.geometry) app.overlay.set('selection', [e.geometry]);
      } catch (err) {
        render({ text: t('action.failed', { msg: err.message }), err: true });
      }
    };
    render();
    open(lngLat, root, { entryId: id, refresh, render: (msg) => render(msg) });
    refresh();
  }

  async function qualify(root, e, next) {
    await act(root, e, () =>
      app.apiFetch(`/api/entries/${e.id}`, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/merge-patch+json', 'If-Match': `"${e.version}"` },
        body: JSON.stringify({ qualification: next }),
      }),
    );
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

  /** A place of the staffing layer: its coverage for the shift shown, at the level then. */
  function showStaffing(f, lngLat, others) {
    const p = f.properties;
    const root = h(
      'div',
      { class: 'popup' },
      h('h3', {}, p.label || p.place || ''),
      h(
        'dl',
        {},
        row(t('popup.staffing.coverage'), t(`staffing.coverage.${p.coverage}`)),
        row(t('popup.staffing.level'), p.level),
        row(t('popup.staffing.shift'), p.shift ? `${p.shift} (${p.day})` : ''),
        row(t('popup.staffing.positions'), p.positions),
        row(t('popup.staffing.people'), t('popup.staffing.counts', { needed: p.needed ?? 0, confirmed: p.confirmed ?? 0, short: p.short ?? 0 })),
      ),
      othersList(others, lngLat),
    );
    open(lngLat, root, { render: () => showStaffing(f, lngLat, others) });
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
    else if (kind === 'staffing') showStaffing(f, lngLat, others);
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
    /** GET /api/workspace of this page (asked once): `{id, parent, children}`. */
    workspace: () => workspaceTree(),
    /** Reloads the open entry from the server (after signing in again). */
    refreshOpen() {
      current?.refresh?.();
    },
  };
}
