// The workspace's sources and styles, for admins: the "Sources & styles" dialog.
//
// Sources: the state of every source of the workspace (GET /api/sources, asked again every few
// seconds while the dialog is open, never when it is closed) and the workspace's stored sources,
// a TOML document edited as text (GET / PUT /api/sources/config). A save carries `If-Match` with
// the version the text was loaded from: a 412 (someone else stored another version meanwhile)
// keeps the text typed here, shows the stored one next to it and lets a second save replace it;
// a 422 shows every problem the server names, grouped by source. The server is the validator.
// Sources of the operator's sources file are listed, marked read-only: they are not in the text.
//
// Styles: the workspace's map styles (GET /styles), the server's and its own; admins upload one
// (PUT /api/styles/{id}, a MapLibre style JSON from a file or pasted) or delete one of the
// workspace's (DELETE /api/styles/{id}), with `If-Match` on the styles' version. A workspace
// style with a server style's id replaces it in this workspace: when it is the style the map
// draws with ("hypervision", or "wall" in wall mode), the map takes it at once, through the path
// a catalog change takes (tiles.js `rebuild`).

import { t, translate, formatTime } from './i18n.js';
import { h, $, replace, problemMessage } from './dom.js';
import { wsUrl } from './app.js';
import { fetchBaseStyle, perimeterColours } from './style.js';

/** How often the sources' state is asked while the dialog is open, ms. */
const POLL_MS = 3_000;
/** A style id the server accepts. */
const STYLE_ID = /^[a-z0-9_-]{1,64}$/;
/** Styles every server has (style.js `fetchBaseStyle` draws with them); others may come from `styles_dir`. */
const MAP_STYLES = { desk: 'hypervision', wall: 'wall' };

/** The version in an `ETag: "N"` header, or null. */
function etagVersion(r) {
  const m = /"(\d+)"/.exec(r.headers.get('ETag') || '');
  return m ? Number(m[1]) : null;
}

/** A problem+json body, or null. */
async function problemBody(r) {
  try {
    return await r.json();
  } catch {
    return null;
  }
}

/** The settings controller, bound to the page's shared `app`: `{open, close, applyRole}`. */
export function createSettings(app) {
  const dialog = $('settings-dialog');
  const opener = $('settings-open');
  const text = $('sources-text');
  const sourcesForm = $('sources-form');
  const styleForm = $('style-form');

  // Messages are kept as functions, so that they follow a change of language.
  const said = { sources: null, sourcesError: null, styles: null, styleError: null };

  function show(el, fn, kind = '') {
    el.textContent = fn ? fn() : '';
    if (el.classList.contains('note')) el.className = `note${kind ? ` ${kind}` : ''}`;
  }

  function setSourcesStatus(fn, kind = '') {
    said.sources = fn && { fn, kind };
    show($('sources-status'), fn, kind);
  }

  /** `idle`: a message the next rendering of the list may replace (loading, version). */
  function setStylesStatus(fn, kind = '', idle = false) {
    said.styles = fn && { fn, kind, idle };
    show($('styles-status'), fn, kind);
  }

  // ------------------------------------------------------------ sources: state

  /** GET /api/sources: `{configured, version, concurrency, sources}`; null before it is read. */
  let statuses = null;
  /** When it was read. */
  let polledAt = null;
  let pollTimer = null;
  /** Bumped when polling starts or stops: a tick of an older run schedules no other. */
  let pollRun = 0;
  let polling = false;
  /** Bumped by every answer that carries the statuses: an older one arriving late is ignored. */
  let statusSeq = 0;
  /** Whether the last poll failed (its message goes when one succeeds). */
  let pollFailed = false;

  const outcomeWarn = (o) => o === 'failed' || o === 'rejected';

  function lastRunCell(s) {
    const run = s.last_run;
    if (!run) return h('td', {}, h('span', { class: 'muted' }, t('sources.never')));
    const details = [];
    if (run.error) details.push(h('span', { class: 'run-error' }, run.error));
    else if (run.read || run.kept) details.push(h('span', {}, t('sources.kept', { kept: run.kept, read: run.read })));
    if (run.problem_count) details.push(h('span', { class: outcomeWarn(run.outcome) ? 'run-error' : '' }, t('sources.problems', { n: run.problem_count })));
    // The first problems: "file, line 12: field: reason".
    for (const p of run.error ? [] : (run.problems || []).slice(0, 3)) {
      details.push(h('span', { class: 'muted' }, [[p.file, p.position].filter(Boolean).join(', '), p.field, p.reason].filter(Boolean).join(' : ')));
    }
    return h(
      'td',
      { dataset: { outcome: run.outcome } },
      h('span', { class: `outcome${outcomeWarn(run.outcome) ? ' warn' : ''}` }, t(`sources.outcome.${run.outcome}`)),
      ' · ',
      h('time', { datetime: run.started_at }, formatTime(run.started_at)),
      details.length ? h('span', { class: 'run-details' }, details) : null,
    );
  }

  function renderStatuses() {
    if (!statuses) return;
    const rows = statuses.sources || [];
    replace(
      $('sources-rows'),
      rows.map((s) =>
        h(
          'tr',
          { dataset: { source: s.id, origin: s.origin, state: s.state }, class: s.origin === 'file' ? 'from-file' : null },
          h('th', { scope: 'row' }, h('code', {}, s.id), s.title ? h('span', { class: 'muted' }, s.title) : null),
          s.origin === 'file'
            ? h('td', { title: t('sources.origin.file.title') }, t('sources.origin.file'), h('span', { class: 'muted' }, t('sources.origin.file.note')))
            : h('td', {}, t('sources.origin.workspace')),
          h('td', {}, h('code', {}, s.layer)),
          h('td', { class: 'location' }, s.location, h('span', { class: 'muted' }, [s.format, t(s.refresh_s ? 'sources.refresh.every' : 'sources.refresh.once', { s: s.refresh_s })].filter(Boolean).join(' · '))),
          h(
            'td',
            {},
            h('span', { class: `state state-${s.state}` }, t(`sources.state.${s.state}`)),
            s.invalid?.length ? h('ul', { class: 'run-details run-error' }, s.invalid.map((p) => h('li', {}, p))) : null,
          ),
          lastRunCell(s),
        ),
      ),
    );
    $('sources-table').parentElement.hidden = !rows.length;
    $('sources-empty').textContent = rows.length ? '' : t('sources.none');
    // Not a live region: it changes every few seconds.
    $('sources-polled').textContent = polledAt ? t('sources.polled', { at: formatTime(polledAt, { timeStyle: 'medium' }), s: POLL_MS / 1000 }) : '';
  }

  /** Reads GET /api/sources and shows it; a version stored elsewhere is loaded into the editor. */
  async function poll() {
    if (polling) return;
    polling = true;
    const seq = ++statusSeq;
    try {
      const r = await app.apiFetch('/api/sources', { cache: 'no-store' });
      if (!r.ok) throw new Error(await problemMessage(r));
      const next = await r.json();
      // A save answered meanwhile: its statuses are newer.
      if (seq !== statusSeq) return;
      statuses = next;
      polledAt = Date.now();
      renderStatuses();
      if (pollFailed) setSourcesStatus(null);
      pollFailed = false;
      if (!saving && base && statuses.version !== base.version && statuses.version !== seenElsewhere) {
        seenElsewhere = statuses.version;
        await loadConfig();
      }
    } catch (e) {
      pollFailed = true;
      const msg = e.message;
      setSourcesStatus(() => t('sources.load.failed', { msg }), 'warn');
    } finally {
      polling = false;
    }
  }

  function startPolling() {
    stopPolling();
    const run = pollRun;
    const tick = async () => {
      await poll();
      if (dialog.open && run === pollRun) pollTimer = setTimeout(tick, POLL_MS);
    };
    tick();
  }

  function stopPolling() {
    pollRun += 1;
    clearTimeout(pollTimer);
    pollTimer = null;
  }

  // ------------------------------------------------------------ sources: the stored document

  /** What the editor's text was loaded from: `{text, version}`; null before the first load. */
  let base = null;
  /** The stored version last seen by polling, so that one change is loaded once. */
  let seenElsewhere = null;
  /** The stored document shown after a 412: `{text, version}`, or null. */
  let theirs = null;
  let saving = false;

  const dirty = () => !!base && text.value !== base.text;

  function renderVersion() {
    const v = $('sources-version');
    if (!base) return (v.textContent = '');
    const newer = seenElsewhere !== null && seenElsewhere > base.version && dirty() && !theirs;
    v.className = `note${newer ? ' warn' : ''}`;
    if (newer) v.textContent = t('sources.version.newer', { version: seenElsewhere });
    else if (dirty()) v.textContent = t('sources.version.edited', { version: base.version });
    else v.textContent = base.version ? t('sources.version', { version: base.version }) : t('sources.version.none');
  }

  /**
   * Shows an error in the form: a function giving text, or one giving nodes; null clears it.
   * `invalid`: the text is what is wrong (not so for a conflict).
   */
  function sourcesError(fn, invalid = true) {
    said.sourcesError = fn;
    const out = fn ? fn() : null;
    replace($('sources-error'), out);
    if (out && invalid) text.setAttribute('aria-invalid', 'true');
    else text.removeAttribute('aria-invalid');
  }

  function showTheirs() {
    const box = $('sources-theirs');
    box.hidden = !theirs;
    if (!theirs) return;
    $('sources-theirs-h').textContent = t('sources.theirs', { version: theirs.version });
    $('sources-theirs-text').textContent = theirs.text;
    box.open = true;
  }

  /** GET /api/sources/config: `{text, version}`. @throws Error */
  async function fetchConfig() {
    const r = await app.apiFetch('/api/sources/config', { cache: 'no-store' });
    if (r.status === 403) throw new Error(t('settings.forbidden'));
    if (!r.ok) throw new Error(await problemMessage(r));
    return { text: await r.text(), version: etagVersion(r) ?? 0 };
  }

  /**
   * Loads the stored document into the editor, unless the editor holds changes of its own: they
   * stay, based on the version they were made from (their save then answers 412).
   */
  async function loadConfig() {
    try {
      const doc = await fetchConfig();
      seenElsewhere = doc.version;
      if (!dirty()) {
        text.value = doc.text;
        base = doc;
      }
      renderVersion();
      return true;
    } catch (e) {
      const msg = e.message;
      setSourcesStatus(() => t('sources.load.failed', { msg }), 'warn');
      return false;
    }
  }

  /** Selects the `[[source]]` entry of `id` in the text. */
  function goToSource(id) {
    const m = new RegExp(`^\\s*id\\s*=\\s*["']${id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}["']`, 'm').exec(text.value);
    text.focus();
    if (m) text.setSelectionRange(m.index, m.index + m[0].length);
  }

  /** Selects line `n` (from 1) of the text. */
  function goToLine(n) {
    const lines = text.value.split('\n');
    const start = lines.slice(0, n - 1).reduce((at, l) => at + l.length + 1, 0);
    text.focus();
    text.setSelectionRange(start, start + (lines[n - 1] || '').length);
  }

  /**
   * A refusal's `detail`: its first line in the sentence of `key`; the rest (a TOML error's
   * excerpt, aligned on the column) as it is; the line it names, a button that selects it.
   */
  function detailNodes(key, msg) {
    const [head, ...rest] = String(msg).split('\n');
    const excerpt = rest.join('\n').trimEnd();
    const line = /\bline (\d+)/.exec(head)?.[1];
    return [
      h('p', {}, t(key, { msg: head })),
      excerpt ? h('pre', { class: 'code' }, excerpt) : null,
      line ? h('button', { type: 'button', class: 'link-button', onclick: () => goToLine(Number(line)) }, t('sources.goto.line', { line })) : null,
    ];
  }

  /** The 422 `errors` of a PUT, grouped by source: nodes. */
  function errorList(errors) {
    const groups = new Map();
    for (const e of errors) {
      const m = /^source\[(.*)\]$/.exec(e.field || '');
      const key = m ? m[1] : '';
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(e.reason || e.field);
    }
    return [
      h('p', {}, t('sources.invalid.list', { n: errors.length })),
      h(
        'ul',
        { class: 'error-groups' },
        [...groups].map(([id, reasons]) =>
          h(
            'li',
            { dataset: { errorSource: id } },
            id
              ? h('button', { type: 'button', class: 'link-button', title: t('sources.group.goto', { id }), onclick: () => goToSource(id) }, t('sources.group.source', { id }))
              : h('strong', {}, t('sources.group.document')),
            h('ul', {}, reasons.map((r) => h('li', {}, r))),
          ),
        ),
      ),
    ];
  }

  async function saveSources(e) {
    e.preventDefault();
    if (saving || !base) return;
    saving = true;
    const save = $('sources-save');
    save.disabled = true;
    sourcesError(null);
    setSourcesStatus(() => t('sources.saving'));
    try {
      const r = await app.apiFetch('/api/sources/config', {
        method: 'PUT',
        headers: { 'Content-Type': 'application/toml', 'If-Match': `"${base.version}"` },
        body: text.value,
        cache: 'no-store',
      });
      if (r.ok) {
        statusSeq += 1;
        statuses = await r.json();
        polledAt = Date.now();
        const version = etagVersion(r) ?? statuses.version;
        base = { text: text.value, version };
        seenElsewhere = version;
        theirs = null;
        showTheirs();
        setSourcesStatus(() => t('sources.saved', { version }), 'ok');
        renderStatuses();
        return;
      }
      if (r.status === 412) {
        // Their version becomes the one a second save replaces; the text typed here stays.
        theirs = await fetchConfig();
        base = { text: theirs.text, version: theirs.version };
        seenElsewhere = theirs.version;
        showTheirs();
        const version = theirs.version;
        sourcesError(() => t('sources.stale', { version }), false);
        setSourcesStatus(null);
        return;
      }
      if (r.status === 403) {
        sourcesError(() => t('settings.forbidden'));
        setSourcesStatus(null);
        return;
      }
      const body = await problemBody(r);
      const errors = Array.isArray(body?.errors) ? body.errors : null;
      const msg = body?.detail || body?.title || `HTTP ${r.status}`;
      if (r.status === 422 && errors?.length) sourcesError(() => errorList(errors));
      else sourcesError(() => detailNodes(r.status === 422 ? 'sources.invalid' : 'sources.failed', msg));
      setSourcesStatus(null);
    } catch (err) {
      sourcesError(() => t('sources.failed', { msg: err.message }));
      setSourcesStatus(null);
    } finally {
      saving = false;
      save.disabled = false;
      renderVersion();
    }
  }

  // ------------------------------------------------------------ styles

  /** GET /styles: `{version, styles: [{id, name, origin, url}]}`; null before it is read. */
  let styles = null;
  /** Ids of the server's styles (those seen served as such, and the two every server has). */
  const serverIds = new Set(Object.values(MAP_STYLES));
  /** The workspace style waiting for the delete confirmation, or null. */
  let deleting = null;
  let returnFocus = null;

  const overrides = (s) => s.origin === 'workspace' && serverIds.has(s.id);
  const mapStyle = () => MAP_STYLES[app.state?.mode === 'wall' ? 'wall' : 'desk'];

  async function loadStyles() {
    try {
      const r = await app.apiFetch('/styles', { cache: 'no-store' });
      if (!r.ok) throw new Error(await problemMessage(r));
      styles = await r.json();
      for (const s of styles.styles) if (s.origin === 'server') serverIds.add(s.id);
      renderStyles();
      return true;
    } catch (e) {
      const msg = e.message;
      setStylesStatus(() => t('styles.load.failed', { msg }), 'warn');
      return false;
    }
  }

  function originText(s) {
    if (s.origin === 'server') return t('styles.origin.server');
    return t(overrides(s) ? 'styles.origin.override' : 'styles.origin.workspace');
  }

  function renderStyles() {
    if (!styles) return;
    const used = Object.entries(MAP_STYLES).map(([mode, id]) => [id, `styles.used.${mode}`]);
    replace(
      $('styles-list'),
      styles.styles.map((s) =>
        h(
          'li',
          { class: 'catalog-item style-item', dataset: { style: s.id, origin: s.origin, overrides: overrides(s) ? 'true' : null } },
          h('span', { class: 'catalog-name' }, h('span', {}, s.name || s.id), ' ', h('code', {}, s.id)),
          h('span', { class: 'catalog-meta' }, [originText(s), ...used.filter(([id]) => id === s.id).map(([, key]) => t(key))].join(' · ')),
          h(
            'span',
            { class: 'catalog-actions' },
            h('a', { class: 'button-quiet small', href: wsUrl(s.url), download: `${s.id}.json`, 'aria-label': t('styles.download.aria', { id: s.id }) }, t('styles.download')),
            s.origin === 'workspace'
              ? h('button', { type: 'button', class: 'button-quiet small', 'data-delete-style': s.id, 'aria-label': t('styles.delete.aria', { id: s.id }), onclick: (e) => confirmDelete(s, e.currentTarget) }, t('styles.delete'))
              : null,
          ),
        ),
      ),
    );
    if (!said.styles || said.styles.idle) setStylesStatus(() => t('styles.version', { version: styles.version }), '', true);
    idNote();
  }

  function styleError(fn, field = null) {
    said.styleError = fn;
    $('style-error').textContent = fn ? fn() : '';
    for (const el of [$('style-id'), $('style-file'), $('style-text')]) {
      if (fn && el === field) el.setAttribute('aria-invalid', 'true');
      else el.removeAttribute('aria-invalid');
    }
  }

  /** Says under the id field what uploading it would do to an existing style. */
  function idNote() {
    const id = $('style-id').value.trim();
    const known = styles?.styles.find((s) => s.id === id);
    let fn = null;
    if (known && known.origin === 'workspace') fn = () => t('styles.id.exists', { id });
    else if (known || (id && serverIds.has(id))) fn = () => t('styles.id.overrides', { id });
    $('style-id-note').textContent = fn ? fn() : '';
  }

  /**
   * After a change to style `id`: when the map draws with it, the map takes the style the server
   * now serves (the path a catalog change takes: the style is built again and diffed in).
   * Resolves to the i18n key of what to tell the user, or null when the map does not use it.
   */
  async function restyle(id) {
    if (id !== mapStyle() || !app.map || !app.tiles) return null;
    const next = await fetchBaseStyle(app, app.state.mode);
    if (!next) return 'styles.map.reload';
    app.base = next;
    app.perimeterColours = perimeterColours(next);
    try {
      app.tiles.rebuild();
      app.layerPanel?.renderLegend();
    } catch {
      return 'styles.map.reload';
    }
    return 'styles.map.updated';
  }

  /** The status after a styles change: `key` for the style, `map` for the map (restyle). */
  function styleDone(key, id, map) {
    setStylesStatus(() => [t(key, { id }), map ? t(map) : ''].filter(Boolean).join(' '), map === 'styles.map.reload' ? 'warn' : 'ok');
  }

  /** Headers of a styles change: If-Match on the version the list shows. */
  const styleHeaders = (json) => {
    const headers = {};
    if (json) headers['Content-Type'] = 'application/json';
    if (Number.isInteger(styles?.version)) headers['If-Match'] = `"${styles.version}"`;
    return headers;
  };

  /** A refused styles change: 412 reloads the list; else the server's detail. */
  async function styleRefused(r) {
    if (r.status === 412) {
      await loadStyles();
      return () => t('styles.stale');
    }
    if (r.status === 403) return () => t('settings.forbidden');
    const msg = await problemMessage(r);
    return () => t(r.status === 422 ? 'styles.invalid' : 'styles.failed', { msg });
  }

  async function uploadStyle(e) {
    e.preventDefault();
    styleError(null);
    const id = $('style-id').value.trim();
    if (!STYLE_ID.test(id)) {
      styleError(() => t('styles.id.invalid'), $('style-id'));
      $('style-id').focus();
      return;
    }
    const file = $('style-file').files?.[0];
    const from = file ? $('style-file') : $('style-text');
    const body = file ? await file.text() : $('style-text').value;
    if (!body.trim()) {
      styleError(() => t('styles.json.missing'), $('style-file'));
      $('style-file').focus();
      return;
    }
    try {
      JSON.parse(body);
    } catch (err) {
      const msg = err.message;
      styleError(() => t('styles.json.invalid', { msg }), from);
      from.focus();
      return;
    }
    const send = $('style-send');
    send.disabled = true;
    setStylesStatus(() => t('styles.sending'));
    try {
      const r = await app.apiFetch(`/api/styles/${encodeURIComponent(id)}`, { method: 'PUT', headers: styleHeaders(true), body, cache: 'no-store' });
      if (!r.ok) {
        const fn = await styleRefused(r);
        styleError(fn, r.status === 412 ? null : from);
        setStylesStatus(null);
        renderStyles();
        return;
      }
      const created = r.status === 201;
      styleForm.reset();
      idNote();
      await loadStyles();
      styleDone(created ? 'styles.created' : 'styles.replaced', id, await restyle(id));
      dialog.querySelector(`[data-style="${CSS.escape(id)}"] a`)?.focus();
    } catch (err) {
      const msg = err.message;
      styleError(() => t('styles.failed', { msg }));
      setStylesStatus(null);
    } finally {
      send.disabled = false;
    }
  }

  function confirmDelete(s, from) {
    deleting = s;
    returnFocus = from || null;
    const box = $('style-confirm');
    $('style-confirm-text').textContent = t(overrides(s) ? 'styles.confirm.override' : 'styles.confirm', { id: s.id, name: s.name || s.id });
    box.hidden = false;
    $('style-confirm-delete').focus();
  }

  function closeConfirm() {
    deleting = null;
    $('style-confirm').hidden = true;
    const back = returnFocus;
    returnFocus = null;
    if (back?.isConnected) back.focus();
    else $('style-id').focus();
  }

  async function deleteStyle() {
    if (!deleting) return;
    const { id } = deleting;
    const button = $('style-confirm-delete');
    button.disabled = true;
    setStylesStatus(() => t('styles.deleting'));
    try {
      const r = await app.apiFetch(`/api/styles/${encodeURIComponent(id)}`, { method: 'DELETE', headers: styleHeaders(false), cache: 'no-store' });
      if (!r.ok) {
        // 404: gone meanwhile (the list follows); 412: the list is reloaded.
        const fn = await styleRefused(r);
        if (r.status === 404) await loadStyles();
        closeConfirm();
        setStylesStatus(fn, 'warn');
        return;
      }
      closeConfirm();
      await loadStyles();
      styleDone('styles.deleted', id, await restyle(id));
      $('style-id').focus();
    } catch (err) {
      const msg = err.message;
      closeConfirm();
      setStylesStatus(() => t('styles.failed', { msg }), 'warn');
    } finally {
      button.disabled = false;
    }
  }

  // ------------------------------------------------------------ the dialog

  async function open() {
    if (!app.can('admin')) return;
    deleting = null;
    $('style-confirm').hidden = true;
    if (!dialog.open) dialog.showModal();
    $('settings-close').focus();
    setSourcesStatus(() => t('sources.loading'));
    setStylesStatus(() => t('styles.loading'), '', true);
    const [ok] = await Promise.all([loadConfig(), loadStyles()]);
    if (ok) {
      setSourcesStatus(null);
      startPolling();
    }
  }

  function close() {
    if (dialog.open) dialog.close();
  }

  /** Shows the button to admins only (the server refuses the others anyway). */
  function applyRole() {
    opener.hidden = !app.can('admin');
    if (opener.hidden) close();
  }

  opener.addEventListener('click', open);
  $('settings-close').addEventListener('click', close);
  sourcesForm.addEventListener('submit', saveSources);
  styleForm.addEventListener('submit', uploadStyle);
  text.addEventListener('input', renderVersion);
  $('sources-take').addEventListener('click', () => {
    if (!theirs) return;
    const { version } = theirs;
    text.value = theirs.text;
    base = { ...theirs };
    theirs = null;
    showTheirs();
    sourcesError(null);
    setSourcesStatus(() => t('sources.taken', { version }), 'ok');
    renderVersion();
    text.focus();
  });
  $('style-id').addEventListener('input', idNote);
  // A file chosen replaces what was pasted (the file is what is sent).
  $('style-file').addEventListener('change', () => {
    if ($('style-file').files?.length) $('style-text').value = '';
  });
  $('style-confirm-delete').addEventListener('click', deleteStyle);
  $('style-confirm-cancel').addEventListener('click', closeConfirm);
  // Escape closes the delete confirmation first, then the dialog.
  dialog.addEventListener('cancel', (e) => {
    if (!deleting) return;
    e.preventDefault();
    closeConfirm();
  });
  dialog.addEventListener('close', () => {
    stopPolling();
    deleting = null;
    $('style-confirm').hidden = true;
    opener.focus();
  });
  app.on('lang', () => {
    if (!dialog.open) return;
    translate(dialog);
    renderStatuses();
    renderStyles();
    renderVersion();
    showTheirs();
    if (said.sources) show($('sources-status'), said.sources.fn, said.sources.kind);
    if (said.styles) show($('styles-status'), said.styles.fn, said.styles.kind);
    if (said.sourcesError) replace($('sources-error'), said.sourcesError());
    if (said.styleError) $('style-error').textContent = said.styleError();
    if (deleting) $('style-confirm-text').textContent = t(overrides(deleting) ? 'styles.confirm.override' : 'styles.confirm', { id: deleting.id, name: deleting.name || deleting.id });
  });

  return { open, close, applyRole };
}
