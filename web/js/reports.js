// Situation reports ("points de situation", issue 16): the "Points de situation" dialog.
//
// The list: GET /api/reports (text search, status filter), newest period first, asked again when
// the event stream says a report was created or moved; editors start one (POST /api/reports)
// and land in it. The button is shown once GET /api/reports answers (a member narrowed below the
// workspace's territory gets a 403: no button).
//
// A report: its sections on the left, one labelled textarea each, written together — a save is
// PUT …/sections/{id} with the version the text was based on; a 412 (someone saved meanwhile)
// keeps the text typed here and shows both versions side by side, to take theirs or to save
// ours on top of theirs. A section saved elsewhere is updated in place, unless it is being
// edited here (its text differs from the version it was based on): then it only says so, and
// saving will show both. Who is editing which section comes from the `report.presence` events;
// this page tells the server while a section it may write has the focus (a heartbeat every
// 10 s, `null` when the focus leaves). Text never saved is kept when the report is left (and
// found again when it is opened) and the page warns before unloading it.
// On the right, the compiled parts (GET …/compiled: figures with the previous period, significant
// events, hotspots, sources in trouble, maps), each linked to the query that gives it, live or
// frozen. The workflow's moves are those the server lists for the asker (`moves`); a correction
// shows its diff against the edition it corrects. The PDF is fetched and shown from a blob: URL
// (the page's policy frames nothing of the server's), the HTML opens in a new tab.

import { t, title as catalogTitle, translate, formatTime, formatNumber } from './i18n.js';
import { h, $, replace, debounce, problemMessage, externalLink, textOn } from './dom.js';
import { wsUrl } from './app.js';

/** How often the presence in a section is told again while it keeps the focus, ms (the server forgets it after 30 s). */
const PRESENCE_EVERY_MS = 10_000;
/** How long a focus that left a section waits before saying so, ms: moving to another section is then one message. */
const PRESENCE_LEAVE_MS = 400;
/**
 * How often the open report is read again, ms: a presence the server forgot (a page closed
 * without saying so) is not announced, so the badges would stay without it.
 */
const REFRESH_MS = 30_000;
/** Reports listed at once. */
const LIST_LIMIT = 100;
/** Roles that start, validate, publish and correct reports. */
/** Statuses whose text may still be written. */
const OPEN_STATUSES = new Set(['draft', 'review']);
/** The button of each workflow move, by `from>to`. */
const MOVE_KEYS = {
  'draft>review': 'report.move.review',
  'review>draft': 'report.move.draft',
  'review>validated': 'report.move.validated',
  'validated>review': 'report.move.reopen',
  'validated>published': 'report.move.published',
};
/** Tables of figures, in the order shown. */
const FIGURE_TABLES = ['by_theme', 'by_severity', 'by_qualification', 'by_departement'];

/** A problem+json body, or null. */
async function problemBody(r) {
  try {
    return await r.json();
  } catch {
    return null;
  }
}

/**
 * A wall-clock time as the server wrote it in the workspace's time zone
 * (`2027-03-28T06:00:00+02:00`), in the interface language, not moved to the browser's zone;
 * `fallback` (an instant) when there is none.
 */
function formatLocal(local, fallback) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(local || '');
  if (!m) return formatTime(fallback, { dateStyle: 'short', timeStyle: 'short' });
  return formatTime(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]), { dateStyle: 'short', timeStyle: 'short', timeZone: 'UTC' });
}

/** A report's period as text, in the workspace's local time. */
function periodText(p) {
  if (!p) return '';
  return `${formatLocal(p.start_local, p.start)} → ${formatLocal(p.end_local, p.end)}`;
}

/**
 * Writes a status line (`fn` gives its text, in the current language; `kind`: '', `ok` or
 * `warn`). An unchanged text is left alone: a live region would announce it again.
 */
function say(el, fn, kind = '') {
  const text = fn ? fn() : '';
  if (el.textContent !== text) el.textContent = text;
  el.className = `note${kind ? ` ${kind}` : ''}`;
}

/** A status badge. */
function statusBadge(status) {
  return h('span', { class: `badge report-status status-${status}`, dataset: { status } }, t(`report.status.${status}`));
}

/** A link to one of the server's queries (relative, already in the workspace), in a new tab. */
function queryLink(query, text, label) {
  if (!query) return text;
  return h('a', { href: wsUrl(query), target: '_blank', rel: 'noopener', title: t('report.query.title'), 'aria-label': label || null }, text);
}

/** A count's change from the previous period: `+3`, `−2`, `=`; `—` without a previous figure. */
function change(count, previous) {
  if (previous === null || previous === undefined) return '—';
  const d = count - previous;
  if (!d) return '=';
  return `${d > 0 ? '+' : '−'}${formatNumber(Math.abs(d))}`;
}

/** The situation reports' controller, bound to the page's shared `app`: `{probe, open, close, applyRole}`. */
export function createReports(app) {
  const dialog = $('reports-dialog');
  const opener = $('reports-open');
  const listView = $('reports-list-view');
  const reportView = $('report-view');
  const pdfDialog = $('report-pdf-dialog');
  const frame = $('report-pdf-frame');

  /** Whether GET /api/reports answered: the asker reads the reports. */
  let readable = false;

  // The server says who may start, validate and publish reports (GET /api/me `can.report`).
  const isEditor = () => app.can('report');
  const me = () => app.me?.name || '';

  // ------------------------------------------------------------ the list

  /** GET /api/reports: the reports listed; null before the first answer. */
  let reports = null;
  /** Bumped by every list request: an older answer arriving late is dropped. */
  let listSeq = 0;
  /** The list's status line, a function (it follows the language). */
  let listSaid = null;

  /** `idle`: the count of the list, which its next rendering replaces. */
  function listStatus(fn, kind = '', idle = false) {
    listSaid = fn && { fn, kind, idle };
    say($('reports-status'), fn, kind);
  }

  function renderList() {
    if (!reports) return;
    // Keep the keyboard focus on the report it was on across live re-renders.
    const rows = $('reports-rows');
    const focused = rows.contains(document.activeElement) ? document.activeElement.closest('[data-report-id]')?.dataset.reportId : null;
    replace(
      $('reports-rows'),
      reports.map((r) =>
        h(
          'tr',
          { dataset: { reportId: String(r.id), status: r.status }, class: report?.id === r.id ? 'current' : null },
          h(
            'th',
            { scope: 'row' },
            h('button', { type: 'button', class: 'link-button report-open', onclick: () => openReport(r.id) }, r.title),
            h('span', { class: 'muted' }, [t(`report.kind.${r.kind}`), r.supersedes ? t('report.corrects', { id: r.supersedes }) : null].filter(Boolean).join(' · ')),
          ),
          h('td', { title: `${r.period.start} → ${r.period.end}` }, periodText(r.period)),
          h('td', {}, statusBadge(r.status)),
          h('td', {}, t('report.edition', { n: r.edition }), r.superseded_by ? h('span', { class: 'muted' }, t('report.superseded', { id: r.superseded_by })) : null),
        ),
      ),
    );
    if (focused) rows.querySelector(`[data-report-id="${CSS.escape(focused)}"] button`)?.focus();
    $('reports-table').parentElement.hidden = !reports.length;
    if (!listSaid || listSaid.idle) {
      const n = reports.length;
      const filtered = !!($('reports-q').value.trim() || $('reports-filter').value);
      listStatus(() => (n ? t('reports.count', { n }) : t(filtered ? 'reports.none.match' : 'reports.none')), '', true);
    }
  }

  /** Reads the list again with the search and filter shown. */
  async function loadList() {
    const seq = ++listSeq;
    const p = new URLSearchParams({ limit: String(LIST_LIMIT) });
    const q = $('reports-q').value.trim();
    const status = $('reports-filter').value;
    if (q) p.set('q', q);
    if (status) p.set('status', status);
    try {
      const r = await app.apiFetch(`/api/reports?${p}`, { cache: 'no-store' });
      if (seq !== listSeq) return;
      if (r.status === 403) {
        readable = false;
        applyRole();
        return;
      }
      if (!r.ok) throw new Error(await problemMessage(r));
      const body = await r.json();
      if (seq !== listSeq) return;
      reports = body.reports || [];
      listSaid = null;
      renderList();
    } catch (e) {
      if (seq !== listSeq) return;
      const msg = e.message;
      listStatus(() => t('reports.load.failed', { msg }), 'warn');
    }
  }
  const loadListSoon = debounce(loadList, 250);

  // ------------------------------------------------------------ a new report

  function showNewForm(show) {
    const form = $('reports-new-form');
    form.hidden = !show;
    $('reports-new').setAttribute('aria-expanded', String(show));
    $('reports-new-error').textContent = '';
    if (show) {
      form.reset();
      $('reports-new-title').focus();
    }
  }

  async function createReport(e) {
    e.preventDefault();
    const body = {};
    const title = $('reports-new-title').value.trim();
    if (title) body.title = title;
    for (const k of ['from', 'to']) {
      const v = $(`reports-new-${k}`).value;
      if (!v) continue;
      const at = new Date(v);
      if (Number.isNaN(at.getTime())) {
        $('reports-new-error').textContent = t('reports.new.badtime');
        $(`reports-new-${k}`).focus();
        return;
      }
      body[k] = at.toISOString();
    }
    const submit = $('reports-new-submit');
    submit.disabled = true;
    $('reports-new-error').textContent = t('reports.new.pending');
    try {
      const r = await app.apiFetch('/api/reports', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), cache: 'no-store' });
      if (r.status !== 201) {
        const p = await problemBody(r);
        const reasons = Array.isArray(p?.errors) ? p.errors.map((x) => x.reason).filter(Boolean).join(' ; ') : '';
        $('reports-new-error').textContent = r.status === 403 ? t('reports.new.forbidden') : t('reports.new.failed', { msg: reasons || p?.detail || `HTTP ${r.status}` });
        return;
      }
      const made = await r.json();
      showNewForm(false);
      loadList();
      await openReport(made.id, () => t('report.created', { id: made.id }));
    } catch (err) {
      $('reports-new-error').textContent = t('reports.new.failed', { msg: err.message });
    } finally {
      submit.disabled = false;
    }
  }

  // ------------------------------------------------------------ the open report

  /** GET /api/reports/{id} of the open report; null on the list. */
  let report = null;
  /** Bumped whenever another report is opened (or the list comes back): late answers are dropped. */
  let viewSeq = 0;
  /** GET …/compiled of the open report, or null. */
  let compiled = null;
  /** Why the compiled parts could not be read, or null. */
  let compiledError = null;
  /** Whether entries changed since the live figures were computed. */
  let compiledStale = false;
  /** GET …/diff of an open correction, or null. */
  let diff = null;
  /** The editors of the sections, by section id, in the report's order. */
  let sections = new Map();
  /** Who edits which section now: `[{who, section}]`. */
  let presence = [];
  /** The report's status line: `{fn, kind}` or null. */
  let said = null;
  /** The move waiting for a confirmation: `{to, fn}`, or null. */
  let confirming = null;
  let refreshTimer = null;
  /** Texts not saved of reports left: `"{report}/{section}"` → `{text, body, version}`. */
  const drafts = new Map();

  function message(fn, kind = '') {
    said = fn && { fn, kind };
    say($('report-message'), fn, kind);
  }

  const reportOpen = () => !!report && OPEN_STATUSES.has(report.status);
  const writable = (s) => reportOpen() && !!s.def.may_write;
  const dirty = (s) => s.el.textarea.value !== s.body;
  const draftKey = (s) => `${report.id}/${s.def.id}`;

  /** Keeps the texts not saved of the open report (it is being left). */
  function stash() {
    if (!report) return;
    for (const s of sections.values()) {
      if (dirty(s)) drafts.set(draftKey(s), { text: s.el.textarea.value, body: s.body, version: s.version });
      else drafts.delete(draftKey(s));
    }
  }

  // -------------------------------------------- presence: this page's

  /** The section this page says it edits (`{report, section}`), or null. */
  let here = null;
  let heartbeat = null;
  let leaving = null;

  function tellPresence(reportId, section, opts = {}) {
    app
      .apiFetch(`/api/reports/${reportId}/presence`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ section }), cache: 'no-store', ...opts })
      .then((r) => {
        if (!r.ok && r.status !== 401) console.warn(`vigie: presence in report ${reportId}: HTTP ${r.status}`);
      })
      .catch(() => {
        /* the next heartbeat tells it again */
      });
  }

  function enter(s) {
    // A section this page may not write is not being edited: the focus counts as gone.
    if (!report || !writable(s)) return;
    clearTimeout(leaving);
    if (here && here.report === report.id && here.section === s.def.id) return;
    here = { report: report.id, section: s.def.id };
    tellPresence(here.report, here.section);
    clearInterval(heartbeat);
    heartbeat = setInterval(() => here && tellPresence(here.report, here.section), PRESENCE_EVERY_MS);
  }

  /** The focus left the sections: said after a moment (at once with `now`). */
  function leave(now = false, opts = {}) {
    clearTimeout(leaving);
    const go = () => {
      if (!here) return;
      const was = here;
      here = null;
      clearInterval(heartbeat);
      tellPresence(was.report, null, opts);
    };
    if (now) go();
    else leaving = setTimeout(go, PRESENCE_LEAVE_MS);
  }

  // -------------------------------------------- sections

  function ownerText(s) {
    const o = s.def.owner || {};
    if (!reportOpen()) return t('report.section.closed', { status: t(`report.status.${report.status}`).toLowerCase() });
    let who = t('report.owner.role', { role: t(`role.${o.role}`) });
    if (o.desk) who = t('report.owner.desk', { desk: o.desk });
    else if (o.role === 'editor') who = t('report.owner.editors');
    return s.def.may_write ? who : `${who} ${t('report.section.readonly')}`;
  }

  function metaText(s) {
    const d = s.def;
    let saved = t('report.section.empty');
    if (s.version && d.updated_at) saved = t('report.section.saved', { by: d.updated_by || '?', at: formatTime(d.updated_at, { dateStyle: 'short', timeStyle: 'short' }), version: s.version });
    else if (s.version) saved = t('report.section.saved.by', { by: d.updated_by || '?', version: s.version });
    // A correction starts from the text of the edition it corrects, at version 0.
    else if (s.body) saved = t('report.section.copied');
    return dirty(s) ? `${saved} ${t('report.section.dirty')}` : saved;
  }

  function sectionMessage(s, fn, kind = '') {
    s.said = fn && { fn, kind };
    say(s.el.msg, fn, kind);
  }

  function renderPresence(s) {
    const others = presence.filter((p) => p.section === s.def.id && p.who !== me());
    // Unchanged, left alone: the badges are a live region.
    const key = JSON.stringify([others.map((p) => p.who), t('report.presence', { who: '' })]);
    if (s.el.presenceKey === key) return;
    s.el.presenceKey = key;
    replace(
      s.el.presence,
      others.map((p) => h('span', { class: 'badge presence', dataset: { who: p.who } }, t('report.presence', { who: p.who }))),
    );
  }

  function renderConflict(s) {
    const box = s.el.conflict;
    box.hidden = !s.conflict;
    if (!s.conflict) {
      s.el.conflictKey = null;
      return replace(box);
    }
    const c = s.conflict.current;
    const yours = s.el.textarea.value || t('report.conflict.blank');
    // The same conflict: only our text follows the editor (the focus may be on its buttons).
    const key = JSON.stringify([c.version, c.updated_by, c.body, writable(s), t('report.conflict.yours')]);
    if (s.el.conflictKey === key) {
      const pre = box.querySelector('[data-conflict="yours"] pre');
      if (pre.textContent !== yours) pre.textContent = yours;
      return;
    }
    s.el.conflictKey = key;
    const hid = `${s.el.textarea.id}-conflict-h`;
    box.setAttribute('aria-labelledby', hid);
    replace(
      box,
      h('p', { id: hid, class: 'report-conflict-h' }, t('report.conflict.title', { by: c.updated_by || '?', version: c.version })),
      h(
        'div',
        { class: 'report-conflict-columns' },
        h(
          'figure',
          { dataset: { conflict: 'theirs' } },
          h('figcaption', {}, t('report.conflict.theirs', { by: c.updated_by || '?', version: c.version })),
          h('pre', { class: 'report-conflict-text', tabindex: '0' }, c.body || t('report.conflict.blank')),
        ),
        h(
          'figure',
          { dataset: { conflict: 'yours' } },
          h('figcaption', {}, t('report.conflict.yours')),
          h('pre', { class: 'report-conflict-text', tabindex: '0' }, yours),
        ),
      ),
      h(
        'div',
        { class: 'form-actions' },
        h('button', { type: 'button', class: 'button-quiet small', dataset: { conflictAction: 'take' }, onclick: () => takeTheirs(s) }, t('report.conflict.take')),
        writable(s) ? h('button', { type: 'button', class: 'button small', dataset: { conflictAction: 'keep' }, onclick: () => save(s, c.version) }, t('report.conflict.keep')) : null,
      ),
    );
  }

  /** Brings a section's editor up to date with its state. */
  function renderSection(s) {
    const el = s.el;
    el.textarea.readOnly = !writable(s);
    el.root.classList.toggle('readonly', !writable(s));
    el.owner.textContent = ownerText(s);
    el.meta.textContent = metaText(s);
    el.save.hidden = !writable(s);
    el.save.disabled = s.saving;
    el.save.textContent = t('report.section.save');
    el.save.setAttribute('aria-label', t('report.section.save.aria', { title: s.def.title }));
    say(el.notice, s.remote && !s.conflict ? () => t('report.section.remote', { by: s.remote.by || '?', version: s.remote.version }) : null, 'warn report-notice');
    el.restore.hidden = s.replaced === null;
    el.restore.textContent = t('report.conflict.restore');
    if (s.said) sectionMessage(s, s.said.fn, s.said.kind);
    renderPresence(s);
    renderConflict(s);
  }

  function buildSection(def) {
    const id = `report-s-${def.id}`;
    const s = { def, body: def.body || '', version: def.version || 0, conflict: null, remote: null, replaced: null, saving: false, said: null, seen: 0, el: {} };
    const el = s.el;
    el.textarea = h('textarea', { id, class: 'report-textarea', rows: '6', spellcheck: 'true', 'aria-describedby': `${id}-owner ${id}-meta ${id}-notice ${id}-msg` });
    el.textarea.value = s.body;
    el.presence = h('span', { class: 'presence-badges', 'aria-live': 'polite' });
    el.owner = h('p', { id: `${id}-owner`, class: 'note report-owner' });
    el.notice = h('p', { id: `${id}-notice`, class: 'note warn report-notice', role: 'status' });
    el.conflict = h('div', { class: 'report-conflict', role: 'group', tabindex: '-1', hidden: true });
    el.meta = h('span', { id: `${id}-meta`, class: 'report-saved' });
    el.save = h('button', { type: 'button', class: 'button small', dataset: { save: def.id }, onclick: () => save(s) });
    el.restore = h('button', { type: 'button', class: 'button-quiet small', hidden: true, onclick: () => restoreMine(s) });
    el.msg = h('p', { id: `${id}-msg`, class: 'note', role: 'status' });
    el.root = h(
      'section',
      { class: 'report-section', dataset: { section: def.id }, 'aria-labelledby': `${id}-h` },
      h('div', { class: 'report-section-head' }, h('h5', { id: `${id}-h` }, h('label', { for: id }, def.title)), el.presence),
      el.owner,
      el.textarea,
      el.notice,
      el.conflict,
      h('div', { class: 'report-section-foot' }, el.meta, h('span', { class: 'form-actions' }, el.restore, el.save)),
      el.msg,
    );
    // A text left unsaved here before: back in the editor, on the version it was based on (a
    // save then answers 412 with both when someone saved meanwhile).
    const kept = drafts.get(`${report.id}/${def.id}`);
    if (kept) {
      el.textarea.value = kept.text;
      s.body = kept.body;
      if (kept.version < s.version) s.remote = { by: def.updated_by, version: s.version };
      s.version = kept.version;
      s.said = { fn: () => t('report.section.kept'), kind: 'warn' };
    }
    el.textarea.addEventListener('input', () => {
      el.meta.textContent = metaText(s);
      if (s.conflict) renderConflict(s);
    });
    el.textarea.addEventListener('keydown', (e) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 's') {
        e.preventDefault();
        save(s);
      }
    });
    el.root.addEventListener('focusin', () => enter(s));
    el.root.addEventListener('focusout', (e) => {
      if (!el.root.contains(e.relatedTarget)) leave();
    });
    return s;
  }

  /** PUT the section's text on `base` (its version, or the stored one to keep ours after a 412). */
  async function save(s, base = s.version) {
    if (s.saving || !writable(s)) return;
    const rep = report;
    const key = draftKey(s);
    const text = s.el.textarea.value;
    // A choice made in the conflict box: the focus goes back to the text once it is gone.
    let refocus = s.el.conflict.contains(document.activeElement);
    s.saving = true;
    s.el.save.disabled = true;
    sectionMessage(s, () => t('report.section.saving'));
    try {
      const r = await app.apiFetch(`/api/reports/${rep.id}/sections/${encodeURIComponent(s.def.id)}`, {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ body: text, base_version: base }),
        cache: 'no-store',
      });
      if (r.ok && drafts.get(key)?.text === text) drafts.delete(key);
      if (report !== rep) return;
      if (r.ok) {
        const out = await r.json();
        s.body = text;
        s.version = out.version;
        s.def.updated_by = out.updated_by;
        s.def.updated_at = new Date().toISOString();
        s.conflict = null;
        s.remote = null;
        s.replaced = null;
        drafts.delete(key);
        const version = out.version;
        sectionMessage(s, () => t('report.section.stored', { version }), 'ok');
        if (report.supersedes) loadDiff();
        return;
      }
      if (r.status === 412) {
        const p = await problemBody(r);
        if (!p?.current) throw new Error(p?.detail || 'HTTP 412');
        // Ours stays in the editor; theirs is shown beside it.
        s.conflict = { current: p.current };
        s.remote = null;
        const by = p.current.updated_by || '?';
        const version = p.current.version;
        sectionMessage(s, () => t('report.section.conflict', { by, version }), 'warn');
        renderSection(s);
        s.el.conflict.focus();
        refocus = false;
        return;
      }
      const msg = await problemMessage(r);
      if (r.status === 409) {
        sectionMessage(s, () => t('report.section.closedNow', { msg }), 'warn');
        reloadReport();
      } else if (r.status === 403) sectionMessage(s, () => t('report.section.forbidden', { msg }), 'warn');
      else sectionMessage(s, () => t('report.section.failed', { msg }), 'warn');
    } catch (e) {
      const msg = e.message;
      if (report === rep) sectionMessage(s, () => t('report.section.failed', { msg }), 'warn');
    } finally {
      s.saving = false;
      if (report === rep) {
        renderSection(s);
        if (refocus && !s.conflict) s.el.textarea.focus();
        // Saved elsewhere while ours was on its way.
        if (s.seen > s.version && !s.conflict) remoteChange(s, s.seen, s.seenBy);
      }
    }
  }

  /** Takes the stored version after a 412; ours can be put back until the next save. */
  function takeTheirs(s) {
    if (!s.conflict) return;
    const c = s.conflict.current;
    s.replaced = s.el.textarea.value;
    s.el.textarea.value = c.body;
    s.body = c.body;
    s.version = c.version;
    s.def.updated_by = c.updated_by;
    s.def.updated_at = null; // a 412 does not say when
    s.conflict = null;
    s.remote = null;
    const version = c.version;
    sectionMessage(s, () => t('report.conflict.taken', { version }), 'ok');
    renderSection(s);
    s.el.textarea.focus();
  }

  function restoreMine(s) {
    if (s.replaced === null) return;
    s.el.textarea.value = s.replaced;
    s.replaced = null;
    sectionMessage(s, () => t('report.conflict.restored'));
    renderSection(s);
    s.el.textarea.focus();
  }

  /** Section `s` was saved elsewhere as `version` by `by`. */
  function remoteChange(s, version, by) {
    if (version <= s.version) return;
    s.seen = Math.max(s.seen, version);
    s.seenBy = by;
    if (s.saving) return; // seen again once our save is answered
    if (dirty(s) || s.conflict) {
      // Being edited here: nothing is replaced; saving will show both.
      if (!s.conflict) s.remote = { by, version };
      renderSection(s);
      return;
    }
    reloadSoon();
  }

  // -------------------------------------------- the report: header, moves, compiled parts

  function renderHeader() {
    if (!report) return;
    // The move the focus is on, found again after the buttons are made again.
    const focusedMove = $('report-moves').contains(document.activeElement) ? document.activeElement.dataset.move : null;
    $('report-title').textContent = report.title;
    const parts = [
      statusBadge(report.status),
      h('span', {}, t('report.edition', { n: report.edition })),
      h('span', {}, t(`report.kind.${report.kind}`)),
      h('span', { title: `${report.period.start} → ${report.period.end}` }, t('report.period', { period: periodText(report.period) })),
      report.classification ? h('span', { class: 'badge report-marking' }, report.classification) : null,
      report.supersedes ? h('button', { type: 'button', class: 'link-button report-open', onclick: () => openReport(report.supersedes) }, t('report.corrects', { id: report.supersedes })) : null,
      report.superseded_by ? h('button', { type: 'button', class: 'link-button report-open', onclick: () => openReport(report.superseded_by) }, t('report.superseded', { id: report.superseded_by })) : null,
    ].filter(Boolean);
    replace($('report-meta'), parts.flatMap((p, i) => (i ? [' · ', p] : [p])));
    replace(
      $('report-history-list'),
      (report.history || []).map((st) => h('li', {}, t('report.history.step', { status: t(`report.status.${st.status}`), by: st.by, at: formatTime(st.at) }))),
    );
    replace(
      $('report-moves'),
      (report.moves || []).map((to) => {
        const key = MOVE_KEYS[`${report.status}>${to}`] || `report.status.${to}`;
        const strong = to === 'validated' || to === 'published';
        return h('button', { type: 'button', class: strong ? 'button' : 'button-quiet', dataset: { move: to }, onclick: () => askMove(to) }, t(key));
      }),
    );
    if (focusedMove) ($('report-moves').querySelector(`[data-move="${focusedMove}"]`) || $('report-title')).focus();
    $('report-correct').hidden = !report.may_correct;
    $('report-html').href = wsUrl(`/api/reports/${report.id}/html`);
    if (said) message(said.fn, said.kind);
  }

  function renderSections() {
    for (const s of sections.values()) renderSection(s);
  }

  /** A row's label: the server's, but qualifications (it gives their keys) in the interface's words. */
  function rowLabel(table, r) {
    if (table === 'by_qualification' && ['raw', 'in_review', 'confirmed', 'refuted', 'closed'].includes(r.key)) return t(`qualification.${r.key}`);
    return r.label;
  }

  function figureTable(key, rows) {
    return h(
      'table',
      { class: 'settings-table report-figures', dataset: { table: key } },
      h('caption', {}, t(`report.fig.${key}`)),
      h(
        'thead',
        {},
        h('tr', {}, h('th', { scope: 'col' }, t('report.fig.col.what')), h('th', { scope: 'col' }, t('report.fig.col.count')), h('th', { scope: 'col' }, t('report.fig.col.previous')), h('th', { scope: 'col' }, t('report.fig.col.change'))),
      ),
      h(
        'tbody',
        {},
        rows.map((r) =>
          h(
            'tr',
            { dataset: { key: r.key } },
            h('th', { scope: 'row' }, queryLink(r.query, rowLabel(key, r), t('report.query.aria', { what: rowLabel(key, r) }))),
            h('td', { class: 'num' }, formatNumber(r.count)),
            h('td', { class: 'num' }, r.previous === null || r.previous === undefined ? '—' : formatNumber(r.previous)),
            h('td', { class: 'num' }, change(r.count, r.previous)),
          ),
        ),
      ),
    );
  }

  function significantItem(e) {
    const th = (e.tags || []).map((tag) => app.themeOf(tag)).find(Boolean);
    const colour = th?.color || '#6b7280';
    return h(
      'li',
      { dataset: { entry: String(e.id) }, style: { '--theme': colour, '--theme-fg': textOn(colour) } },
      h('span', { class: 'entry-sev', 'data-sev': String(e.severity), title: `${t('popup.severity')} : ${t(`severity.${e.severity}`)}` }, String(e.severity)),
      h(
        'span',
        { class: 'significant-body' },
        h('span', { class: 'entry-title' }, e.title || `#${e.id}`),
        h('span', { class: 'entry-meta' }, [formatTime(e.time, { dateStyle: 'short', timeStyle: 'short' }), th ? catalogTitle(th) : null, e.place, `#${e.id}`].filter(Boolean).join(' · ')),
        e.links?.length ? h('span', { class: 'significant-links' }, e.links.map(([url, title]) => externalLink(url, title || url))) : null,
        h('button', { type: 'button', class: 'link-button report-open', onclick: () => showOnMap(e) }, t('report.significant.map')),
      ),
    );
  }

  function renderCompiled() {
    const frozenEl = $('report-frozen');
    const box = $('report-compiled');
    if (compiledError) {
      replace(frozenEl);
      replace(box, h('p', { class: 'note warn' }, t('report.compiled.failed', { msg: compiledError })));
      $('report-recompute').hidden = false;
      return;
    }
    if (!compiled) {
      replace(frozenEl);
      replace(box, h('p', { class: 'note' }, t('report.compiled.loading')));
      return;
    }
    const c = compiled;
    const f = c.figures;
    $('report-recompute').hidden = c.frozen;
    replace(
      frozenEl,
      h('span', { class: `badge ${c.frozen ? 'frozen' : 'live'}`, dataset: { frozen: String(!!c.frozen) } }, t(c.frozen ? 'report.frozen' : 'report.live')),
      ' ',
      t(c.frozen ? 'report.frozen.at' : 'report.live.at', { at: formatTime(c.computed_at, { dateStyle: 'short', timeStyle: 'medium' }) }),
      compiledStale && !c.frozen ? h('span', { class: 'warn-text' }, ` ${t('report.compiled.stale')}`) : null,
    );
    const prev = c.previous;
    const nodes = [
      h(
        'p',
        { class: 'report-total' },
        t('report.total'),
        ' ',
        h('strong', { dataset: { figure: 'total', total: String(f.total) } }, formatNumber(f.total)),
        f.previous_total !== null && f.previous_total !== undefined ? ` (${t('report.total.previous', { n: formatNumber(f.previous_total), change: change(f.total, f.previous_total) })})` : null,
        ' · ',
        queryLink(f.query, t('report.query'), t('report.query.aria', { what: t('report.total') })),
      ),
      prev
        ? h(
            'p',
            { class: 'note' },
            t(prev.report ? 'report.previous.report' : 'report.previous.period', {
              from: formatTime(prev.period[0], { dateStyle: 'short', timeStyle: 'short' }),
              to: formatTime(prev.period[1], { dateStyle: 'short', timeStyle: 'short' }),
              id: prev.report,
            }),
            prev.frozen ? ` ${t('report.previous.frozen')}` : '',
          )
        : null,
      ...FIGURE_TABLES.filter((k) => f[k]?.length).map((k) => h('div', { class: 'table-wrap' }, figureTable(k, f[k]))),
      h('h5', {}, t('report.significant')),
      c.significant.length
        ? h('ol', { class: 'significant-list' }, c.significant.map(significantItem))
        : h('p', { class: 'note' }, t('report.significant.none')),
      h(
        'p',
        { class: 'note' },
        c.significant_more ? `${t('report.significant.more', { n: c.significant_more })} ` : '',
        queryLink(c.significant_query, t('report.significant.query')),
      ),
      h('h5', {}, t('report.hotspots')),
      c.hotspots.length
        ? h(
            'div',
            { class: 'table-wrap' },
            h(
              'table',
              { class: 'settings-table report-figures', dataset: { table: 'hotspots' }, 'aria-label': t('report.hotspots') },
              h(
                'thead',
                {},
                h('tr', {}, ['cell', 'count', 'baseline', 'expected', 'p'].map((k) => h('th', { scope: 'col' }, t(`report.hotspot.${k}`)))),
              ),
              h(
                'tbody',
                {},
                c.hotspots.map((hs) =>
                  h(
                    'tr',
                    {},
                    h('th', { scope: 'row' }, queryLink(hs.query, h('code', {}, hs.cell), t('report.query.aria', { what: hs.cell }))),
                    h('td', { class: 'num' }, formatNumber(hs.count)),
                    h('td', { class: 'num' }, formatNumber(hs.baseline)),
                    h('td', { class: 'num' }, formatNumber(Math.round(hs.expected * 10) / 10)),
                    h('td', { class: 'num' }, hs.p_value.toExponential(1)),
                  ),
                ),
              ),
            ),
          )
        : h('p', { class: 'note' }, t('report.hotspots.none')),
      c.hotspot_method ? h('p', { class: 'note' }, c.hotspot_method) : null,
      h('h5', {}, t('report.sources')),
      c.sources.length
        ? h(
            'ul',
            { class: 'report-sources' },
            c.sources.map((s) =>
              h(
                'li',
                { dataset: { source: s.id, problem: s.problem } },
                h('strong', {}, s.title || s.id),
                ' ',
                h('code', {}, s.id),
                ' — ',
                h('span', { class: 'run-error' }, t(`report.source.${s.problem}`)),
                s.last_run ? ` · ${t('report.source.lastRun', { at: formatTime(s.last_run) })}` : '',
                s.detail ? h('span', { class: 'muted' }, s.detail) : null,
              ),
            ),
          )
        : h('p', { class: 'note' }, t('report.sources.none')),
      c.maps.length ? h('h5', {}, t('report.maps')) : null,
      ...c.maps.map((m, i) =>
        h(
          'figure',
          { class: 'report-map', dataset: { map: String(i) } },
          m.error
            ? h('p', { class: 'note warn' }, t('report.map.error', { msg: m.error }))
            : h('img', { src: wsUrl(`/api/reports/${report.id}/maps/${i}${c.frozen ? '' : `?at=${c.computed_at}`}`), alt: m.title, loading: 'lazy' }),
          h('figcaption', {}, m.title, ' · ', queryLink(m.query, t('report.map.query'), t('report.query.aria', { what: m.title }))),
        ),
      ),
    ];
    replace(box, nodes);
  }

  function renderDiff() {
    const box = $('report-diff');
    box.hidden = !report?.supersedes;
    if (box.hidden) return;
    $('report-diff-h').textContent = t('report.diff.title', { id: report.supersedes });
    const body = $('report-diff-body');
    if (!diff) return replace(body, h('p', { class: 'note' }, t('report.diff.loading')));
    if (diff.error) return replace(body, h('p', { class: 'note warn' }, t('report.diff.failed', { msg: diff.error })));
    const nodes = [];
    for (const [title, lines] of diff.sections || []) {
      nodes.push(h('h5', {}, title));
      nodes.push(
        h(
          'ol',
          { class: 'diff-lines' },
          lines.map((l) =>
            h(
              'li',
              { dataset: { op: l.op } },
              h('span', { class: 'diff-op', title: t(`report.diff.op.${l.op === '+' ? 'add' : l.op === '-' ? 'del' : 'same'}`) }, l.op === '-' ? '−' : l.op),
              l.op === '+' ? h('ins', {}, l.text) : l.op === '-' ? h('del', {}, l.text) : h('span', {}, l.text),
            ),
          ),
        ),
      );
    }
    if (diff.figures?.length) {
      nodes.push(
        h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'settings-table report-figures', dataset: { table: 'diff' } },
            h('caption', {}, t('report.diff.figures')),
            h('thead', {}, h('tr', {}, ['table', 'line', 'before', 'after'].map((k) => h('th', { scope: 'col' }, t(`report.diff.col.${k}`))))),
            h(
              'tbody',
              {},
              diff.figures.map(([table, line, before, after]) => h('tr', {}, h('td', {}, table), h('th', { scope: 'row' }, line), h('td', { class: 'num' }, formatNumber(before)), h('td', { class: 'num' }, formatNumber(after)))),
            ),
          ),
        ),
      );
    }
    if (!nodes.length) nodes.push(h('p', { class: 'note' }, t('report.diff.none')));
    replace(body, nodes);
  }

  async function loadCompiled() {
    const rep = report;
    const seq = viewSeq;
    if (!compiled) renderCompiled();
    try {
      const r = await app.apiFetch(`/api/reports/${rep.id}/compiled`, { cache: 'no-store' });
      if (!r.ok) throw new Error(await problemMessage(r));
      const c = await r.json();
      if (seq !== viewSeq) return;
      compiled = c;
      compiledError = null;
      compiledStale = false;
    } catch (e) {
      if (seq !== viewSeq) return;
      compiledError = e.message;
    }
    renderCompiled();
  }

  async function loadDiff() {
    const rep = report;
    const seq = viewSeq;
    if (!rep?.supersedes) return;
    try {
      const r = await app.apiFetch(`/api/reports/${rep.id}/diff`, { cache: 'no-store' });
      if (!r.ok) throw new Error(await problemMessage(r));
      const d = await r.json();
      if (seq !== viewSeq) return;
      diff = d;
    } catch (e) {
      if (seq !== viewSeq) return;
      diff = { error: e.message };
    }
    renderDiff();
  }

  /** Takes a fresh GET /api/reports/{id} of the open report: header, moves, sections, presence. */
  function applyReport(next) {
    const before = report.status;
    Object.assign(report, next);
    presence = next.presence || [];
    for (const def of next.sections || []) {
      const s = sections.get(def.id);
      if (!s) continue;
      // Who saved the version the editor holds (a newer one is taken below, or only told).
      const known = { updated_by: s.def.updated_by, updated_at: s.def.updated_at };
      s.def = { ...def };
      if (def.version > s.version) {
        if (!dirty(s) && !s.conflict && !s.saving) {
          s.el.textarea.value = def.body;
          s.body = def.body;
          s.version = def.version;
          s.remote = null;
        } else {
          Object.assign(s.def, known);
          if (!s.conflict) s.remote = { by: def.updated_by, version: def.version };
        }
      } else if (def.version < s.version) {
        // Our save was answered after this was read.
        Object.assign(s.def, known);
      }
    }
    renderHeader();
    renderSections();
    if (next.status !== before) {
      if (!reportOpen()) leave(true);
      loadCompiled();
    }
  }

  /** Reads the open report again. */
  async function reloadReport() {
    const rep = report;
    const seq = viewSeq;
    if (!rep) return;
    try {
      const r = await app.apiFetch(`/api/reports/${rep.id}`, { cache: 'no-store' });
      if (!r.ok) throw new Error(await problemMessage(r));
      const next = await r.json();
      if (seq !== viewSeq) return;
      applyReport(next);
    } catch (e) {
      if (seq !== viewSeq) return;
      const msg = e.message;
      message(() => t('report.load.failed', { msg }), 'warn');
    }
  }
  const reloadSoon = debounce(reloadReport, 150);

  function showList() {
    listView.hidden = false;
    reportView.hidden = true;
  }

  /** Opens report `id` in the dialog; `note` (a function) is said in its status line. */
  async function openReport(id, note = null) {
    leave(true);
    stash();
    const seq = ++viewSeq;
    // From the list, or from a report (its correction, the edition it corrects).
    const status = reportView.hidden ? listStatus : message;
    status(() => t('report.loading'));
    try {
      const r = await app.apiFetch(`/api/reports/${id}`, { cache: 'no-store' });
      if (!r.ok) throw new Error(await problemMessage(r));
      const next = await r.json();
      if (seq !== viewSeq) return;
      report = next;
      presence = next.presence || [];
      compiled = null;
      compiledError = null;
      compiledStale = false;
      diff = null;
      confirming = null;
      $('report-confirm').hidden = true;
      sections = new Map((next.sections || []).map((def) => [def.id, buildSection(def)]));
      replace($('report-sections'), [...sections.values()].map((s) => s.el.root));
      listStatus(null);
      message(note);
      listView.hidden = true;
      reportView.hidden = false;
      renderHeader();
      renderSections();
      renderDiff();
      $('report-title').focus();
      loadCompiled();
      loadDiff();
      startRefresh();
    } catch (e) {
      if (seq !== viewSeq) return;
      const msg = e.message;
      status(() => t('report.load.failed', { msg }), 'warn');
    }
  }

  /** Back to the list, the focus on the report left. */
  function backToList() {
    const was = report?.id;
    leave(true);
    stash();
    viewSeq += 1;
    report = null;
    sections = new Map();
    stopRefresh();
    confirming = null;
    showList();
    message(null);
    if (listSaid && !listSaid.idle) listStatus(null);
    renderList();
    loadList();
    const row = was && $('reports-rows').querySelector(`[data-report-id="${was}"] button`);
    (row || $('reports-q')).focus();
  }

  function startRefresh() {
    stopRefresh();
    refreshTimer = setInterval(() => {
      if (dialog.open && report) reloadReport();
    }, REFRESH_MS);
  }

  function stopRefresh() {
    clearInterval(refreshTimer);
    refreshTimer = null;
  }

  // -------------------------------------------- workflow

  function askMove(to) {
    const unsaved = [...sections.values()].filter(dirty).map((s) => s.def.title);
    let fn = null;
    if (to === 'published') fn = () => t('report.confirm.published', { title: report.title });
    else if (to === 'validated' && unsaved.length) fn = () => t('report.confirm.validated', { sections: unsaved.join(', ') });
    if (!fn) return move(to);
    confirming = { to, fn };
    showConfirm();
    $('report-confirm-ok').focus();
  }

  function showConfirm() {
    $('report-confirm').hidden = !confirming;
    if (!confirming) return;
    $('report-confirm-text').textContent = confirming.fn();
    $('report-confirm-ok').textContent = t(MOVE_KEYS[`${report.status}>${confirming.to}`] || `report.status.${confirming.to}`);
  }

  function closeConfirm() {
    const to = confirming?.to;
    confirming = null;
    $('report-confirm').hidden = true;
    const back = to && $('report-moves').querySelector(`[data-move="${to}"]`);
    (back || $('report-title')).focus();
  }

  async function move(to) {
    const rep = report;
    confirming = null;
    $('report-confirm').hidden = true;
    const buttons = [...$('report-moves').querySelectorAll('button')];
    for (const b of buttons) b.disabled = true;
    message(() => t('report.moving'));
    try {
      const r = await app.apiFetch(`/api/reports/${rep.id}/status`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ to }), cache: 'no-store' });
      if (report !== rep) return;
      if (!r.ok) {
        const msg = await problemMessage(r);
        message(() => t('report.move.failed', { msg }), 'warn');
        reloadReport();
        return;
      }
      message(() => t('report.moved', { status: t(`report.status.${to}`) }), 'ok');
      await reloadReport();
      // The button pressed is gone: the next move, else "Corriger", else the title.
      const correctButton = $('report-correct');
      ($('report-moves').querySelector('button') || (correctButton.hidden ? $('report-title') : correctButton)).focus();
    } catch (e) {
      const msg = e.message;
      message(() => t('report.move.failed', { msg }), 'warn');
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  }

  async function correct() {
    const rep = report;
    const button = $('report-correct');
    button.disabled = true;
    message(() => t('report.correcting'));
    try {
      const r = await app.apiFetch(`/api/reports/${rep.id}/correct`, { method: 'POST', cache: 'no-store' });
      if (r.status !== 201) {
        const msg = await problemMessage(r);
        message(() => t('report.correct.failed', { msg }), 'warn');
        return;
      }
      const made = await r.json();
      await openReport(made.id, () => t('report.corrected', { edition: made.edition, id: rep.id }));
    } catch (e) {
      const msg = e.message;
      message(() => t('report.correct.failed', { msg }), 'warn');
    } finally {
      button.disabled = false;
    }
  }

  /** Closes the dialog and opens a significant event's popup on the map. */
  function showOnMap(e) {
    close();
    app.openEntry(e.id, { type: 'Point', coordinates: e.lonlat });
  }

  // -------------------------------------------- the PDF

  let pdfUrl = null;

  async function preview() {
    if (!report) return;
    const rep = report;
    const status = $('report-pdf-status');
    $('report-pdf-h').textContent = t('report.pdf.title', { title: rep.title });
    $('report-pdf-tab').href = wsUrl(`/api/reports/${rep.id}/pdf`);
    status.className = 'note';
    status.textContent = t('report.pdf.loading');
    if (!pdfDialog.open) pdfDialog.showModal();
    $('report-pdf-close').focus();
    try {
      const r = await app.apiFetch(`/api/reports/${rep.id}/pdf`, { cache: 'no-store' });
      if (!r.ok) throw new Error(await problemMessage(r));
      const blob = await r.blob();
      if (!pdfDialog.open) return;
      if (pdfUrl) URL.revokeObjectURL(pdfUrl);
      pdfUrl = URL.createObjectURL(blob.type === 'application/pdf' ? blob : new Blob([blob], { type: 'application/pdf' }));
      frame.src = pdfUrl;
      status.textContent = '';
    } catch (e) {
      status.className = 'note warn';
      status.textContent = t('report.pdf.failed', { msg: e.message });
    }
  }

  pdfDialog.addEventListener('close', () => {
    frame.removeAttribute('src');
    if (pdfUrl) URL.revokeObjectURL(pdfUrl);
    pdfUrl = null;
    if (dialog.open) $('report-pdf').focus();
  });

  // ------------------------------------------------------------ the dialog

  async function open() {
    if (!readable) return;
    if (!dialog.open) dialog.showModal();
    if (report) {
      $('report-title').focus();
      reloadReport();
      loadCompiled();
      startRefresh();
    } else {
      showList();
      $('reports-q').focus();
    }
    if (!reports) listStatus(() => t('reports.loading'));
    await loadList();
  }

  function close() {
    if (dialog.open) dialog.close();
  }

  /** Shows the button to those who read the reports, "Nouveau point" to editors. */
  function applyRole() {
    opener.hidden = !readable || !app.me;
    if (opener.hidden) close();
    $('reports-new').hidden = !isEditor();
    if (!isEditor()) $('reports-new-form').hidden = true;
  }

  /** Asks GET /api/reports whether the asker reads the reports (a 403 hides the button). */
  async function probe() {
    try {
      const r = await app.apiFetch('/api/reports?limit=1', { cache: 'no-store' });
      readable = r.ok;
    } catch {
      readable = false;
    }
    applyRole();
  }

  /** An event of the stream about the reports. */
  function onEvent({ type, data }) {
    if (!data) return;
    if (type !== 'report.presence' && type !== 'report.section' && dialog.open) loadListSoon();
    if (!report || data.report !== report.id) {
      if (report && type === 'report.created' && data.corrects === report.id) reloadSoon();
      return;
    }
    if (type === 'report.presence') {
      presence = data.present || [];
      for (const s of sections.values()) renderPresence(s);
    } else if (type === 'report.section') {
      const s = sections.get(data.section);
      if (s) remoteChange(s, Number(data.version) || 0, data.by);
    } else if (type === 'report.status' || type === 'report.published') {
      if (data.by && data.by !== me()) {
        const status = data.status;
        const by = data.by;
        message(() => t('report.moved.by', { status: t(`report.status.${status}`), by }));
      }
      reloadSoon();
    }
  }

  opener.addEventListener('click', open);
  $('reports-close').addEventListener('click', close);
  $('reports-search').addEventListener('submit', (e) => {
    e.preventDefault();
    loadList();
  });
  $('reports-q').addEventListener('input', loadListSoon);
  $('reports-filter').addEventListener('change', loadList);
  $('reports-new').addEventListener('click', () => showNewForm($('reports-new-form').hidden));
  $('reports-new-cancel').addEventListener('click', () => {
    showNewForm(false);
    $('reports-new').focus();
  });
  $('reports-new-form').addEventListener('submit', createReport);
  $('report-back').addEventListener('click', backToList);
  $('report-correct').addEventListener('click', correct);
  $('report-pdf').addEventListener('click', preview);
  $('report-pdf-close').addEventListener('click', () => pdfDialog.close());
  $('report-recompute').addEventListener('click', loadCompiled);
  $('report-confirm-ok').addEventListener('click', () => confirming && move(confirming.to));
  $('report-confirm-cancel').addEventListener('click', closeConfirm);
  // Escape closes the confirmation, then the new-report form, then the dialog.
  dialog.addEventListener('cancel', (e) => {
    if (confirming) {
      e.preventDefault();
      closeConfirm();
    } else if (!$('reports-new-form').hidden) {
      e.preventDefault();
      showNewForm(false);
      $('reports-new').focus();
    }
  });
  dialog.addEventListener('close', () => {
    leave(true);
    stopRefresh();
    if (pdfDialog.open) pdfDialog.close();
    if (!opener.hidden) opener.focus();
  });
  // The page going away: the presence goes first; text not saved is worth a warning.
  window.addEventListener('pagehide', () => leave(true, { keepalive: true }));
  window.addEventListener('beforeunload', (e) => {
    stash();
    if (drafts.size) {
      e.preventDefault();
      e.returnValue = '';
    }
  });
  app.on('report-event', onEvent);
  app.on('entry-event', () => {
    if (report && compiled && !compiled.frozen && !compiledStale) {
      compiledStale = true;
      renderCompiled();
    }
  });
  app.on('live-resumed', () => {
    if (!dialog.open) return;
    loadList();
    if (report) reloadReport();
  });
  app.on('identity', async () => {
    await probe();
    if (dialog.open) {
      loadList();
      if (report) reloadReport();
    }
  });
  app.on('lang', () => {
    translate(dialog);
    translate(pdfDialog);
    if (listSaid) listStatus(listSaid.fn, listSaid.kind, listSaid.idle);
    renderList();
    if (report) {
      renderHeader();
      renderSections();
      renderCompiled();
      renderDiff();
      if (confirming) showConfirm();
    }
  });

  return { probe, open, close, applyRole };
}
