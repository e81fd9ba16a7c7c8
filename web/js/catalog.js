// The catalog at run time. Admins change the themes and layers of a workspace through the API
// while pages are open, so the page's catalog is not fixed at start: `refresh` reads GET
// /catalog again and, when its `version` moved, rebuilds the layer panel, the legend and the map
// style in place (no reload), keeping shown the layers that still exist and showing new layers
// marked `visible`. It runs after each change made here and whenever the event stream comes back
// after a failure (the server ends the stream when the catalog changes).
//
// Admins also get the editor: a dialog over GET /api/catalog that creates, edits and deletes
// themes and layers (PUT / DELETE /api/catalog/{themes|layers}/{id}). Every change carries
// `If-Match` with the version the dialog shows: a 412 (someone else changed the catalog
// meanwhile) reloads it and says so; the server is the validator, its 422 `detail` is shown
// next to the form.

import { t, title, translate, formatTime } from './i18n.js';
import { h, $, replace, problemMessage } from './dom.js';
import { fetchArchives } from './style.js';

/** Layer kinds, in the order the form offers them. */
export const LAYER_KINDS = ['entries', 'venues', 'perimeters', 'dataset', 'h3', 'table', 'staffing', 'pmtiles', 'mbtiles'];
/** Perimeter kinds a `perimeters` layer may keep. */
const PERIMETER_KINDS = ['silt', 'red', 'blue'];
/** Zoom bounds of the form's fields (the server serves tiles up to z24). */
const MAX_ZOOM = 24;
/** Finest H3 resolution. */
const H3_FINEST = 15;

/**
 * Whether two GET /catalog documents are the same version. A server without `version` is
 * compared on what the page draws from it (ids, titles, themes, kinds, zooms, tags, colours).
 */
function sameCatalog(a, b) {
  if (!a || !b) return false;
  if (a.version != null || b.version != null) return a.version === b.version;
  const shape = (c) =>
    JSON.stringify([
      c.themes.map((th) => [th.id, th.title, th.title_en, th.color, th.entry_tag]),
      c.layers.map((l) => [l.id, l.title, l.title_en, l.description, l.theme, l.kind, l.minzoom, l.maxzoom, l.visible, l.tags]),
    ]);
  return shape(a) === shape(b);
}

/** Comma-separated text as a list of trimmed, non-empty items. */
const list = (text) => String(text || '').split(',').map((s) => s.trim()).filter(Boolean);

/** The catalog controller, bound to the page's shared `app`: `{refresh, open, close, applyRole}`. */
export function createCatalog(app) {
  const dialog = $('catalog-dialog');
  const opener = $('catalog-open');
  const status = $('catalog-status');
  const editor = $('catalog-editor');
  const form = $('catalog-form');

  // ------------------------------------------------------------ reload into the page

  let running = null;
  let again = false;

  /**
   * Installs a new GET /catalog document (with the TileJSON of its archive layers): panel,
   * legend, style, entry list.
   */
  function install(next, archives) {
    const before = new Set(app.catalog.layers.map((l) => l.id));
    const shown = app.visible();
    app.setCatalog(next);
    app.archives = archives;
    app.state.layers = next.layers.filter((l) => !app.isBasemap(l.id) && (before.has(l.id) ? shown.has(l.id) : l.visible)).map((l) => l.id);
    app.tiles.rebuild();
    app.layerPanel.renderList();
    app.layerPanel.renderLegend();
    app.writeHash();
    app.emit('layers');
    app.emit('catalog', next);
  }

  async function refreshOnce() {
    const r = await app.apiFetch('/catalog', { cache: 'no-store' });
    if (!r.ok) throw new Error(`/catalog: HTTP ${r.status}`);
    const next = await r.json();
    if (sameCatalog(app.catalog, next)) return false;
    // Read again each time: a changed layer may point at another archive.
    install(next, await fetchArchives(app, next));
    return true;
  }

  /**
   * Reads GET /catalog and installs it when its version differs from the page's. Calls made
   * while one runs are served by one more pass once it ends (so a change answered meanwhile is
   * never missed). Resolves to whether anything was installed.
   * @throws Error when /catalog cannot be read.
   */
  function refresh() {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      let changed = false;
      try {
        do {
          again = false;
          changed = (await refreshOnce()) || changed;
        } while (again);
        return changed;
      } finally {
        running = null;
      }
    })();
    return running;
  }

  // ------------------------------------------------------------ the editor

  /** GET /api/catalog: `{version, updated_at, updated_by, name, attribution, themes, layers}`. */
  let doc = null;
  /** What the editor shows: null, `{type: 'theme'|'layer', def|null}` or `{type, def, deleting: true}`. */
  let editing = null;
  /** The element to give the focus back to when the editor closes. */
  let returnFocus = null;

  function setStatus(text, kind = '') {
    status.textContent = text || '';
    status.className = `note${kind ? ` ${kind}` : ''}`;
  }

  function meta() {
    if (!doc) return '';
    if (doc.updated_at && doc.updated_by) return t('catalog.meta', { version: doc.version, at: formatTime(doc.updated_at), by: doc.updated_by });
    return t('catalog.meta.short', { version: doc.version });
  }

  /** The version to send as If-Match: the document's, else its ETag's. */
  let etag = null;

  async function load() {
    setStatus(t('catalog.loading'));
    try {
      const r = await app.apiFetch('/api/catalog', { cache: 'no-store' });
      if (r.status === 403) throw new Error(t('catalog.forbidden'));
      if (!r.ok) throw new Error(await problemMessage(r));
      etag = r.headers.get('ETag');
      doc = await r.json();
      renderLists();
      setStatus(meta());
      return true;
    } catch (e) {
      setStatus(t('catalog.load.failed', { msg: e.message }), 'warn');
      return false;
    }
  }

  function themeTitle(id) {
    return title(doc?.themes.find((th) => th.id === id)) || id;
  }

  function renderLists() {
    if (!doc) return;
    const uses = (id) => doc.layers.filter((l) => l.theme === id).length;
    replace(
      $('catalog-themes'),
      doc.themes.map((th) =>
        h(
          'li',
          { class: 'catalog-item', 'data-theme': th.id },
          h('span', { class: 'swatch', style: { '--swatch': th.color }, 'aria-hidden': 'true' }),
          h('span', { class: 'catalog-name' }, h('span', {}, title(th)), ' ', h('code', {}, th.id)),
          h('span', { class: 'catalog-meta' }, [th.entry_tag ? t('catalog.entry_tag.short') : null, t('catalog.theme.layers', { n: uses(th.id) })].filter(Boolean).join(' · ')),
          h(
            'span',
            { class: 'catalog-actions' },
            h('button', { type: 'button', class: 'button-quiet small', 'data-edit-theme': th.id, 'aria-label': t('catalog.theme.edit.aria', { id: th.id }), onclick: (e) => openTheme(th, e.currentTarget) }, t('catalog.edit')),
            h('button', { type: 'button', class: 'button-quiet small', 'data-delete-theme': th.id, 'aria-label': t('catalog.theme.delete.aria', { id: th.id }), onclick: (e) => confirmDelete('theme', th, e.currentTarget) }, t('catalog.delete')),
          ),
        ),
      ),
    );
    replace(
      $('catalog-layers'),
      doc.layers.map((l) =>
        h(
          'li',
          { class: 'catalog-item', 'data-layer': l.id },
          h('span', { class: 'swatch', style: { '--swatch': doc.themes.find((th) => th.id === l.theme)?.color || '#555555' }, 'aria-hidden': 'true' }),
          h('span', { class: 'catalog-name' }, h('span', {}, title(l)), ' ', h('code', {}, l.id)),
          h('span', { class: 'catalog-meta' }, [t(`catalog.kind.${l.kind}`), themeTitle(l.theme), l.visible ? t('catalog.visible.short') : null].filter(Boolean).join(' · ')),
          h(
            'span',
            { class: 'catalog-actions' },
            h('button', { type: 'button', class: 'button-quiet small', 'data-edit-layer': l.id, 'aria-label': t('catalog.layer.edit.aria', { id: l.id }), onclick: (e) => openLayer(l, e.currentTarget) }, t('catalog.edit')),
            h('button', { type: 'button', class: 'button-quiet small', 'data-delete-layer': l.id, 'aria-label': t('catalog.layer.delete.aria', { id: l.id }), onclick: (e) => confirmDelete('layer', l, e.currentTarget) }, t('catalog.delete')),
          ),
        ),
      ),
    );
  }

  // -- form building blocks

  const errorLine = () => h('p', { class: 'field-error', id: 'catalog-error', role: 'alert' });
  const row = (id, key, input, attrs = {}) => h('div', { class: 'form-row', ...attrs }, h('label', { for: id, 'data-i18n': key }), input);
  const check = (id, key, checked) =>
    h('div', { class: 'form-row' }, h('label', { class: 'inline-check' }, h('input', { type: 'checkbox', id, checked: !!checked }), h('span', { 'data-i18n': key })));
  const actions = (submitKey) =>
    h(
      'div',
      { class: 'form-actions' },
      h('button', { type: 'submit', class: 'button', id: 'catalog-save', 'data-i18n': submitKey }),
      h('button', { type: 'button', class: 'button-quiet', id: 'catalog-cancel', 'data-i18n': 'catalog.cancel', onclick: () => closeEditor() }),
    );

  function showEditor(headingKey, vars, children) {
    const heading = $('catalog-editor-h');
    heading.textContent = t(headingKey, vars);
    heading.dataset.key = headingKey;
    heading.dataset.vars = JSON.stringify(vars);
    replace(form, children);
    translate(form);
    editor.hidden = false;
    editor.scrollIntoView({ block: 'nearest' });
  }

  function openTheme(def, from) {
    editing = { type: 'theme', def };
    returnFocus = from || null;
    showEditor(def ? 'catalog.theme.editing' : 'catalog.theme.creating', { id: def?.id || '' }, [
      row('ct-id', 'catalog.field.id', h('input', { type: 'text', id: 'ct-id', required: true, maxlength: '64', autocomplete: 'off', spellcheck: 'false', readonly: !!def, 'aria-describedby': 'catalog-error' })),
      row('ct-title', 'catalog.field.title', h('input', { type: 'text', id: 'ct-title', required: true, maxlength: '200' })),
      row('ct-title_en', 'catalog.field.title_en', h('input', { type: 'text', id: 'ct-title_en', maxlength: '200' })),
      row('ct-color', 'catalog.field.color', h('input', { type: 'color', id: 'ct-color' })),
      check('ct-entry_tag', 'catalog.field.entry_tag', def ? def.entry_tag !== false : true),
      errorLine(),
      actions('catalog.save'),
    ]);
    fillTheme(def);
    editing.initial = def ? themePayload() : null;
    (def ? $('ct-title') : $('ct-id')).focus();
  }

  /** Puts a theme (or a theme payload) in the form's fields. */
  function fillTheme(def) {
    $('ct-id').value = def?.id || '';
    $('ct-title').value = def?.title || '';
    $('ct-title_en').value = def?.title_en || '';
    $('ct-color').value = /^#[0-9a-f]{6}$/i.test(def?.color || '') ? def.color.toLowerCase() : '#1d4ed8';
    $('ct-entry_tag').checked = def ? def.entry_tag !== false : true;
  }

  function themeOptions(selected) {
    return doc.themes.map((th) => h('option', { value: th.id, selected: th.id === selected }, `${title(th)} (${th.id})`));
  }

  function sourceOptions(selfId, selected) {
    return doc.layers.filter((l) => l.kind !== 'h3' && l.id !== selfId).map((l) => h('option', { value: l.id, selected: l.id === selected }, `${title(l)} (${l.id})`));
  }

  /** Shows the rows of the chosen kind only. */
  function showKindRows() {
    const kind = $('cl-kind').value;
    for (const el of form.querySelectorAll('[data-kinds]')) el.hidden = !el.dataset.kinds.split(' ').includes(kind);
  }

  function openLayer(def, from) {
    editing = { type: 'layer', def };
    returnFocus = from || null;
    const kind = def?.kind || 'entries';
    const number = (id, min, max) => h('input', { type: 'number', id, min: String(min), max: String(max), step: '1', inputmode: 'numeric' });
    showEditor(def ? 'catalog.layer.editing' : 'catalog.layer.creating', { id: def?.id || '' }, [
      row('cl-id', 'catalog.field.id', h('input', { type: 'text', id: 'cl-id', required: true, maxlength: '64', autocomplete: 'off', spellcheck: 'false', readonly: !!def, 'aria-describedby': 'catalog-error' })),
      row('cl-title', 'catalog.field.title', h('input', { type: 'text', id: 'cl-title', required: true, maxlength: '200' })),
      row('cl-title_en', 'catalog.field.title_en', h('input', { type: 'text', id: 'cl-title_en', maxlength: '200' })),
      row('cl-description', 'catalog.field.description', h('textarea', { id: 'cl-description', rows: '2', maxlength: '2000' })),
      row('cl-theme', 'catalog.field.theme', h('select', { id: 'cl-theme' }, themeOptions(def?.theme))),
      row('cl-kind', 'catalog.field.kind', h('select', { id: 'cl-kind', onchange: showKindRows }, LAYER_KINDS.map((k) => h('option', { value: k, selected: k === kind, 'data-i18n': `catalog.kind.${k}` })))),
      row('cl-tags', 'catalog.field.tags', h('input', { type: 'text', id: 'cl-tags', autocomplete: 'off', spellcheck: 'false' }), { dataset: { kinds: 'entries' } }),
      h(
        'div',
        { class: 'form-row', dataset: { kinds: 'perimeters' } },
        h(
          'fieldset',
          { id: 'cl-kinds' },
          h('legend', { class: 'form-label', 'data-i18n': 'catalog.field.kinds' }),
          h('div', { class: 'checks' }, PERIMETER_KINDS.map((k) => h('label', {}, h('input', { type: 'checkbox', name: 'cl-kinds', value: k, checked: (def?.kinds || []).includes(k) }), h('span', { 'data-i18n': `perimeter.${k}` })))),
        ),
      ),
      row('cl-dataset', 'catalog.field.dataset', h('input', { type: 'text', id: 'cl-dataset', maxlength: '64', autocomplete: 'off', spellcheck: 'false' }), { dataset: { kinds: 'dataset' } }),
      row('cl-key', 'catalog.field.key', h('input', { type: 'text', id: 'cl-key', autocomplete: 'off', spellcheck: 'false' }), { dataset: { kinds: 'dataset' } }),
      row('cl-source', 'catalog.field.source', h('select', { id: 'cl-source' }, sourceOptions(def?.id, def?.source)), { dataset: { kinds: 'h3' } }),
      row('cl-min_resolution', 'catalog.field.min_resolution', number('cl-min_resolution', 0, H3_FINEST), { dataset: { kinds: 'h3' } }),
      row('cl-max_resolution', 'catalog.field.max_resolution', number('cl-max_resolution', 0, H3_FINEST), { dataset: { kinds: 'h3' } }),
      h('p', { class: 'note', dataset: { kinds: 'table' }, 'data-i18n': 'catalog.field.table' }),
      row('cl-archive', 'catalog.field.archive', h('input', { type: 'text', id: 'cl-archive', maxlength: '2048', autocomplete: 'off', spellcheck: 'false' }), { dataset: { kinds: 'pmtiles mbtiles' } }),
      row('cl-minzoom', 'catalog.field.minzoom', number('cl-minzoom', 0, MAX_ZOOM)),
      row('cl-maxzoom', 'catalog.field.maxzoom', number('cl-maxzoom', 0, MAX_ZOOM)),
      check('cl-visible', 'catalog.field.visible', def ? def.visible : true),
      errorLine(),
      actions('catalog.save'),
    ]);
    $('cl-dataset').placeholder = t('catalog.field.dataset.placeholder');
    fillLayer(def);
    editing.initial = def ? layerPayload() : null;
    (def ? $('cl-title') : $('cl-id')).focus();
  }

  /** Puts a layer definition (or a layer payload) in the form's fields. */
  function fillLayer(def) {
    $('cl-id').value = def?.id || '';
    $('cl-title').value = def?.title || '';
    $('cl-title_en').value = def?.title_en || '';
    $('cl-description').value = def?.description || '';
    if (def?.theme) $('cl-theme').value = def.theme;
    $('cl-kind').value = def?.kind || 'entries';
    $('cl-tags').value = (def?.tags || []).join(', ');
    for (const box of form.querySelectorAll('input[name="cl-kinds"]')) box.checked = (def?.kinds || []).includes(box.value);
    $('cl-dataset').value = def?.dataset || '';
    $('cl-archive').value = def?.archive || '';
    $('cl-key').value = def?.key || '';
    if (def?.source) $('cl-source').value = def.source;
    $('cl-min_resolution').value = def?.min_resolution ?? '';
    $('cl-max_resolution').value = def?.max_resolution ?? '';
    $('cl-minzoom').value = def?.minzoom ?? 0;
    $('cl-maxzoom').value = def?.maxzoom ?? 16;
    $('cl-visible').checked = def ? !!def.visible : true;
    showKindRows();
  }

  /**
   * After a 412: the form takes the definition as it is now, except for the fields the user
   * changed since the form opened, which keep the user's values (someone else's change to
   * another field is not lost by saving again).
   */
  function mergeStale() {
    if (!editing || editing.deleting || !editing.initial) return;
    const { type } = editing;
    const fill = type === 'theme' ? fillTheme : fillLayer;
    const payload = type === 'theme' ? themePayload : layerPayload;
    const mine = payload();
    const theirs = (type === 'theme' ? doc.themes : doc.layers).find((x) => x.id === mine.id);
    // Gone meanwhile: the form stays as it is (saving creates it again).
    if (!theirs) return;
    if (type === 'layer') {
      // Lists of the form's selects follow the reloaded catalog.
      replace($('cl-theme'), themeOptions(theirs.theme));
      replace($('cl-source'), sourceOptions(theirs.id, theirs.source));
    }
    fill(theirs);
    const current = payload();
    const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
    const merged = { ...current };
    for (const key of new Set([...Object.keys(mine), ...Object.keys(editing.initial)])) {
      if (!same(mine[key], editing.initial[key])) merged[key] = mine[key];
    }
    fill(merged);
    editing.def = theirs;
    editing.initial = current;
  }

  function confirmDelete(type, def, from) {
    editing = { type, def, deleting: true };
    returnFocus = from || null;
    showEditor(`catalog.${type}.deleting`, { id: def.id }, [
      h('p', {}, t(`catalog.confirm.${type}`, { id: def.id, title: title(def) })),
      errorLine(),
      actions('catalog.confirm.delete'),
    ]);
    $('catalog-save').classList.add('danger');
    $('catalog-save').focus();
  }

  function closeEditor() {
    editing = null;
    editor.hidden = true;
    replace(form);
    const back = returnFocus;
    returnFocus = null;
    if (back?.isConnected) back.focus();
    else $('catalog-new-layer').focus();
  }

  function formError(text) {
    const p = $('catalog-error');
    if (p) p.textContent = text || '';
    const id = $('ct-id') || $('cl-id');
    if (text && id) id.setAttribute('aria-invalid', 'true');
    else id?.removeAttribute('aria-invalid');
  }

  // -- payloads (only the keys of the chosen kind: the server refuses misplaced ones)

  function themePayload() {
    const titleFr = $('ct-title').value.trim();
    return {
      id: $('ct-id').value.trim(),
      title: titleFr,
      title_en: $('ct-title_en').value.trim() || titleFr,
      color: $('ct-color').value.toLowerCase(),
      entry_tag: $('ct-entry_tag').checked,
    };
  }

  function layerPayload() {
    const id = $('cl-id').value.trim();
    const titleFr = $('cl-title').value.trim();
    const kind = $('cl-kind').value;
    const body = {
      id,
      title: titleFr,
      title_en: $('cl-title_en').value.trim() || titleFr,
      description: $('cl-description').value.trim(),
      theme: $('cl-theme').value,
      kind,
    };
    const int = (el) => (el.value.trim() === '' ? undefined : Number(el.value));
    if (kind === 'entries') body.tags = list($('cl-tags').value);
    if (kind === 'perimeters') body.kinds = [...form.querySelectorAll('input[name="cl-kinds"]:checked')].map((i) => i.value);
    if (kind === 'dataset') {
      body.dataset = $('cl-dataset').value.trim() || id;
      const key = $('cl-key').value.trim();
      if (key) body.key = key;
      // Not edited here (set through the API): a restricted dataset layer stays restricted.
      if (editing?.def?.restricted) body.restricted = true;
    }
    if (kind === 'h3') {
      body.source = $('cl-source').value;
      body.min_resolution = int($('cl-min_resolution'));
      body.max_resolution = int($('cl-max_resolution'));
    }
    // A file of the server's archives folder, or (PMTiles) an http(s) URL: the server checks it.
    if (kind === 'pmtiles' || kind === 'mbtiles') body.archive = $('cl-archive').value.trim();
    // The PostGIS source is not edited here: a table layer keeps the one it has.
    if (kind === 'table' && editing?.def?.postgis) body.postgis = editing.def.postgis;
    body.minzoom = int($('cl-minzoom'));
    body.maxzoom = int($('cl-maxzoom'));
    body.visible = $('cl-visible').checked;
    return JSON.parse(JSON.stringify(body)); // drops the keys left undefined
  }

  /**
   * Sends a change with If-Match. Success: the answer is the new document; the page's catalog
   * follows. 412: reloaded, said in the form. 422 and others: the server's detail in the form.
   * Resolves to whether it succeeded.
   */
  async function send(method, path, body) {
    const headers = {};
    const version = doc?.version ?? (etag ? etag.replace(/\D/g, '') : null);
    if (version !== null && version !== undefined && version !== '') headers['If-Match'] = `"${version}"`;
    if (body) headers['Content-Type'] = 'application/json';
    const r = await app.apiFetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined, cache: 'no-store' });
    if (r.ok) {
      etag = r.headers.get('ETag');
      doc = await r.json();
      renderLists();
      return true;
    }
    if (r.status === 412) {
      await load();
      mergeStale();
      formError(t('catalog.stale'));
      setStatus(t('catalog.stale'), 'warn');
      return false;
    }
    if (r.status === 403) {
      formError(t('catalog.forbidden'));
      return false;
    }
    const msg = await problemMessage(r);
    formError(t(r.status === 422 ? 'catalog.invalid' : 'catalog.failed', { msg }));
    return false;
  }

  async function submit(e) {
    e.preventDefault();
    if (!editing || !doc) return;
    const { type, def, deleting } = editing;
    formError('');
    let method = 'PUT';
    let body = null;
    let id = def?.id;
    if (deleting) method = 'DELETE';
    else {
      body = type === 'theme' ? themePayload() : layerPayload();
      id = body.id;
      if (!id) {
        formError(t('catalog.id.required'));
        (type === 'theme' ? $('ct-id') : $('cl-id')).focus();
        return;
      }
      // A new item never replaces one of the same id unseen (PUT would): that is what Edit is for.
      const taken = !def && (type === 'theme' ? doc.themes : doc.layers).some((x) => x.id === id);
      if (taken) {
        formError(t('catalog.id.taken', { id }));
        (type === 'theme' ? $('ct-id') : $('cl-id')).focus();
        return;
      }
      if (!body.title) {
        formError(t('catalog.title.required'));
        (type === 'theme' ? $('ct-title') : $('cl-title')).focus();
        return;
      }
    }
    const save = $('catalog-save');
    save.disabled = true;
    setStatus(t('catalog.saving'));
    try {
      const ok = await send(method, `/api/catalog/${type}s/${encodeURIComponent(id)}`, body);
      if (!ok) {
        if (status.textContent === t('catalog.saving')) setStatus(meta());
        return;
      }
      closeEditor();
      setStatus(`${t(`catalog.${deleting ? 'deleted' : 'saved'}.${type}`, { id })} ${meta()}`, 'ok');
      // Where the focus goes back when the edited item is gone or new: its row, else the list.
      const rowButton = dialog.querySelector(`[data-edit-${type}="${CSS.escape(id)}"]`);
      (rowButton || $(`catalog-new-${type}`)).focus();
      // The page follows (the event stream's reconnection would also bring it, later).
      await refresh().catch((err) => setStatus(t('catalog.load.failed', { msg: err.message }), 'warn'));
    } catch (err) {
      formError(t('catalog.failed', { msg: err.message }));
      setStatus(meta());
    } finally {
      if (save.isConnected) save.disabled = false;
    }
  }

  async function open() {
    if (!app.can('admin')) return;
    editing = null;
    editor.hidden = true;
    replace(form);
    if (!dialog.open) dialog.showModal();
    $('catalog-close').focus();
    if (await load()) $('catalog-new-theme').focus();
  }

  function close() {
    if (dialog.open) dialog.close();
  }

  /** Shows the button to admins only (the server refuses the others anyway). */
  function applyRole() {
    opener.hidden = !app.can('admin');
    if (opener.hidden) close();
  }

  form.addEventListener('submit', submit);
  opener.addEventListener('click', open);
  $('catalog-close').addEventListener('click', close);
  $('catalog-new-theme').addEventListener('click', (e) => doc && openTheme(null, e.currentTarget));
  $('catalog-new-layer').addEventListener('click', (e) => doc && openLayer(null, e.currentTarget));
  // Escape closes the form first, then the dialog.
  dialog.addEventListener('cancel', (e) => {
    if (!editing) return;
    e.preventDefault();
    closeEditor();
  });
  dialog.addEventListener('close', () => {
    editing = null;
    editor.hidden = true;
    replace(form);
    opener.focus();
  });
  // Changed elsewhere (another admin, seen through the event stream): the lists follow, unless
  // a form is open (its save gets the 412 and the reload).
  app.on('catalog', (next) => {
    if (dialog.open && doc && !editing && next.version != null && next.version !== doc.version) load();
  });
  app.on('lang', () => {
    if (!dialog.open) return;
    translate(dialog);
    renderLists();
    const heading = $('catalog-editor-h');
    if (heading.dataset.key) heading.textContent = t(heading.dataset.key, JSON.parse(heading.dataset.vars || '{}'));
    if (doc && status.className === 'note') setStatus(meta());
  });

  return { refresh, open, close, applyRole };
}
