// Liaison-officer staffing ("armement", issue 17): the "Armement" dialog and the staffing
// layer's badges on the map.
//
// The button is shown once GET /api/staffing answers (a member narrowed below the workspace's
// territory gets a 403: no button); it carries the alert level in effect. The dialog:
// - the level in effect, the changes scheduled (withdrawn by managers), and for managers the
//   form changing it (POST /api/staffing/level: now, or at a later time);
// - the grid: one row per position of the plan, one column per shift of the window
//   (GET …/shifts), each cell with its people (GET …/assignments: proposed dashed, confirmed
//   solid, declined left out) against what the position needs at the level planned for
//   (`needs[level]`, 0: closed). A cell short of confirmed people is red, amber when proposals
//   would cover it. The gap report (GET …/gaps) gives the totals above it;
// - the people beside it: a manager drags one onto a cell, or picks one and clicks a cell (the
//   keyboard's way: drag and drop is mouse only); the rules an assignment would break (422
//   `breaches`) are said in the dialog's alert and nothing is stored. A chip opens its
//   actions: confirm, decline, remove;
// - "Suggérer" (proposals for the window's gaps), "Confirmer les propositions", the CSV
//   exports and calendars, and the managers' CSV import (a 422 lists every line at fault).
// The server announces every staffing change, on any replica, as a `staffing` event of the
// page's stream: the open dialog reads everything again (debounced), the header's badge
// follows the level, and the map redraws the staffing layer when it is shown.

import { t, translate, formatTime, formatNumber } from './i18n.js';
import { h, $, replace, debounce, problemMessage } from './dom.js';
import { wsUrl } from './app.js';
import { STAFFING_BADGE } from './style.js';

/** Days shown when the dialog first opens. */
const DEFAULT_DAYS = 3;
/** Most days the grid shows at once (the server allows more, the grid would not be readable). */
const MAX_DAYS = 31;
/** Staffing events often come in pairs (a level change, then its log entry): one reload, ms. */
const LIVE_DEBOUNCE_MS = 200;
/** Staffing events that may move the level of the header's badge (`lagged`: some were missed). */
const BADGE_CHANGES = new Set(['level', 'plan', 'lagged']);
/** Statuses an assignment may be moved to from its chip, in the order offered. */
const CHIP_MOVES = ['confirmed', 'declined'];

/** A problem+json body, or null. */
async function problemBody(r) {
  try {
    return await r.json();
  } catch {
    return null;
  }
}

/** Today in the plan's time zone, `YYYY-MM-DD` (the browser's own day if the zone is unknown). */
function today(timeZone) {
  try {
    return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date());
  } catch {
    return new Date().toISOString().slice(0, 10);
  }
}

/**
 * A wall-clock time as the server wrote it in the plan's zone (`2027-03-28T06:00`), in the
 * interface language, not moved to the browser's zone.
 */
function localText(local, opts = { dateStyle: 'short', timeStyle: 'short' }) {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}))?/.exec(local || '');
  if (!m) return local || '';
  return formatTime(Date.UTC(+m[1], +m[2] - 1, +m[3], +(m[4] || 0), +(m[5] || 0)), { ...opts, timeZone: 'UTC' });
}

/** `HH:MM` of a local time the server wrote. */
const hourOf = (local) => (local || '').slice(11, 16);

/**
 * Fills a select with `[value, text]` options and selects `value`. Options left alone when
 * unchanged: replacing them closes a list the user has open, and live redraws come often.
 */
function fillSelect(select, options, value) {
  const same = select.options.length === options.length && options.every(([v, text], i) => select.options[i].value === v && select.options[i].text === text);
  if (!same) replace(select, options.map(([v, text]) => h('option', { value: v }, text)));
  select.value = value;
}

/** The key of a grid cell. */
const cellKey = (position, day, shift) => `${position}|${day}|${shift}`;

/**
 * The badge image of the staffing layer (`staffing-short-N`: N people short), drawn here:
 * the map's style has no glyphs to write text with. Null for any other image.
 */
function badgeImage(id) {
  if (!id.startsWith(STAFFING_BADGE)) return null;
  const text = id.slice(STAFFING_BADGE.length);
  if (!/^\d{1,5}$/.test(text)) return null;
  const ratio = 2;
  const font = `700 ${11 * ratio}px system-ui, sans-serif`;
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d');
  ctx.font = font;
  const height = 16 * ratio;
  const width = Math.max(height, Math.ceil(ctx.measureText(text).width) + 8 * ratio);
  canvas.width = width;
  canvas.height = height;
  const r = height / 2;
  ctx.beginPath();
  ctx.moveTo(r, 1);
  ctx.arcTo(width - 1, 1, width - 1, height - 1, r - 1);
  ctx.arcTo(width - 1, height - 1, 1, height - 1, r - 1);
  ctx.arcTo(1, height - 1, 1, 1, r - 1);
  ctx.arcTo(1, 1, width - 1, 1, r - 1);
  ctx.closePath();
  ctx.fillStyle = '#7f1d1d';
  ctx.fill();
  ctx.lineWidth = ratio;
  ctx.strokeStyle = '#ffffff';
  ctx.stroke();
  ctx.font = font; // resizing the canvas reset it
  ctx.fillStyle = '#ffffff';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillText(text, width / 2, height / 2 + ratio / 2);
  return { image: ctx.getImageData(0, 0, width, height), pixelRatio: ratio };
}

/** The staffing controller, bound to the page's shared `app`: `{probe, open, close, applyRole}`. */
export function createStaffing(app) {
  const dialog = $('staffing-dialog');
  const opener = $('staffing-open');
  const grid = $('staffing-grid');
  const peopleList = $('staffing-people-list');

  /** Whether GET /api/staffing answered: the asker sees the staffing. */
  let readable = false;
  /** GET /api/staffing; null before its first answer. */
  let overview = null;
  /** The window shown: first local day (`''` until the plan's zone is known), days, and the level planned for (`''`: the one in effect). */
  const view = { from: '', days: DEFAULT_DAYS, level: '' };
  /** GET …/shifts, …/assignments, …/gaps and …/people of the window. */
  let shifts = [];
  let assignments = [];
  let gaps = null;
  let people = [];
  /** Bumped by every load: an older answer arriving late is dropped. */
  let loadSeq = 0;
  /** The person picked to be assigned by a click on a cell, or null. */
  let picked = null;
  /** The assignment whose chip shows its actions, or null. */
  let menu = null;
  /** The status line: `{fn, kind}` or null (it follows the language). */
  let said = null;
  /** The alert's content, a function giving nodes (it follows the language), or null. */
  let alerted = null;

  /** The status line while the dialog's first load runs. */
  const loadingSaid = () => t('staffing.loading');
  const manager = () => !!overview?.can_manage;
  const plan = () => overview?.plan;
  /** The level planned for: the one chosen, else the one in effect. */
  const levelIndex = () => (view.level === '' ? (overview?.level.index ?? 0) : Number(view.level));
  const personById = () => new Map(people.map((p) => [p.id, p]));

  function status(fn, kind = '') {
    said = fn && { fn, kind };
    const el = $('staffing-status');
    const text = fn ? fn() : '';
    if (el.textContent !== text) el.textContent = text;
    el.className = `note${kind ? ` ${kind}` : ''}`;
  }

  /** Shows nodes in the dialog's alert (a function, so it follows the language); null clears it. */
  function alert(fn) {
    alerted = fn;
    const el = $('staffing-alert');
    replace(el, fn ? fn() : []);
    el.hidden = !fn;
  }

  // ------------------------------------------------------------ reading

  /** GET `path` as JSON; a 403 (no longer allowed) hides the button. */
  async function getJson(path) {
    const r = await app.apiFetch(path, { cache: 'no-store' });
    if (r.status === 403) {
      readable = false;
      applyRole();
      throw new Error(await problemMessage(r));
    }
    if (!r.ok) throw new Error(await problemMessage(r));
    return r.json();
  }

  /** The window's query: `from`, `days` (and `level` when one was chosen and `withLevel`). */
  function windowQuery(withLevel = false) {
    const q = new URLSearchParams({ from: view.from, days: String(view.days) });
    if (withLevel) q.set('level', String(levelIndex()));
    return q;
  }

  /** Takes a GET /api/staffing answer (the window starts today in the plan's zone). */
  function takeOverview(o) {
    overview = o;
    if (!view.from) view.from = today(o.plan.timezone);
    renderBadge();
  }

  /** GET /api/staffing: the level in effect, for the badge even with the dialog closed. */
  async function loadOverview() {
    takeOverview(await getJson('/api/staffing'));
  }

  /** Reads everything the dialog shows again, then draws it. */
  async function load() {
    const seq = ++loadSeq;
    try {
      if (!overview || !view.from) await loadOverview();
      const win = windowQuery();
      // The level planned for is only known with the overview when it follows the one in
      // effect: the gap report asked without `level` is at the level in effect too.
      const gapsQuery = view.level === '' ? win : windowQuery(true);
      const [ov, sh, as, gp, pp] = await Promise.all([
        getJson('/api/staffing'),
        getJson(`/api/staffing/shifts?${win}`),
        getJson(`/api/staffing/assignments?${win}`),
        getJson(`/api/staffing/gaps?${gapsQuery}`),
        getJson('/api/staffing/people'),
      ]);
      if (seq !== loadSeq) return;
      takeOverview(ov);
      shifts = sh.shifts || [];
      assignments = as.assignments || [];
      gaps = gp;
      people = pp.people || [];
      if (picked && !people.some((p) => p.id === picked)) picked = null;
      if (menu && !assignments.some((a) => a.id === menu && a.status !== 'declined')) menu = null;
      if (said?.fn === loadingSaid) status(null);
      // Not under a drag: redrawing would take the dragged person's row, or the cell under the
      // pointer, out of the page, and the drop with them. Drawn when the drag ends.
      if (dragging) drawAfterDrag = true;
      else render();
    } catch (e) {
      if (seq !== loadSeq) return;
      const msg = e.message;
      status(() => t('staffing.load.failed', { msg }), 'warn');
    }
  }
  const loadSoon = debounce(() => dialog.open && load(), LIVE_DEBOUNCE_MS);
  const overviewSoon = debounce(() => loadOverview().catch(() => {}), LIVE_DEBOUNCE_MS);

  /** Reads again what is shown: the dialog, or only the level of the badge when it is closed. */
  function refreshSoon(what) {
    if (dialog.open) loadSoon();
    else if (!what || BADGE_CHANGES.has(what)) overviewSoon();
  }

  // ------------------------------------------------------------ drawing

  function render() {
    if (!overview) return;
    renderBadge();
    renderLevel();
    renderControls();
    renderTotals();
    renderGrid();
    renderPeople();
  }

  /** The header button's badge: the level in effect. */
  function renderBadge() {
    const badge = $('staffing-level-badge');
    const level = overview?.level;
    badge.hidden = !level;
    if (!level) return;
    badge.textContent = level.name;
    badge.dataset.level = String(level.index);
  }

  function renderLevel() {
    const o = overview;
    const el = $('staffing-level');
    el.textContent = o.level.name;
    el.dataset.level = String(o.level.index);
    const since = o.level.since;
    $('staffing-since').textContent = since ? t('staffing.level.since', { at: localText(since.local), by: since.by, reason: since.reason }) : t('staffing.level.initial');
    const mayCancel = manager();
    replace(
      $('staffing-scheduled'),
      o.scheduled.length
        ? o.scheduled.map((c) =>
            h(
              'li',
              { dataset: { change: String(c.id) } },
              h('span', {}, t('staffing.scheduled.item', { name: c.name, at: localText(c.local), reason: c.reason, by: c.by })),
              mayCancel
                ? h(
                    'button',
                    { type: 'button', class: 'button-quiet small', 'aria-label': t('staffing.scheduled.cancel.aria', { name: c.name, at: localText(c.local) }), onclick: () => cancelLevel(c) },
                    t('staffing.scheduled.cancel'),
                  )
                : null,
            ),
          )
        : h('li', { class: 'muted' }, t('staffing.scheduled.none')),
    );
    const form = $('staffing-level-form');
    form.hidden = !mayCancel;
    // The level in effect, unless a manager is choosing another in the form.
    const select = $('staffing-level-select');
    const chosen = form.contains(document.activeElement) && select.value !== '' ? select.value : String(o.level.index);
    fillSelect(select, o.plan.levels.map((name, i) => [String(i), name]), chosen);
  }

  function renderControls() {
    $('staffing-from').value = view.from;
    $('staffing-days').value = String(view.days);
    const select = $('staffing-plan-level');
    fillSelect(select, [['', t('staffing.window.level.current', { name: overview.level.name })], ...overview.plan.levels.map((name, i) => [String(i), name])], view.level);
    for (const id of ['staffing-suggest', 'staffing-confirm-all', 'staffing-import']) $(id).hidden = !manager();
    const proposed = proposedInView();
    $('staffing-confirm-all').disabled = !proposed.length;
    $('staffing-confirm-all').textContent = t('staffing.confirmAll.n', { n: proposed.length });
    $('staffing-gaps-csv').href = wsUrl(`/api/staffing/gaps?${new URLSearchParams({ format: 'csv', level: String(levelIndex()), from: view.from, days: String(view.days) })}`);
    const dir = $('staffing-dir').value;
    const roster = new URLSearchParams({ from: view.from, days: String(view.days) });
    if (dir) roster.set('directorate', dir);
    $('staffing-roster-csv').href = wsUrl(`/api/staffing/roster.csv?${roster}`);
    $('staffing-roster-csv').textContent = dir ? t('staffing.export.roster.dir', { dir }) : t('staffing.export.roster');
  }

  function renderTotals() {
    if (!gaps) return;
    const tot = gaps.totals;
    const figure = (key) => h('span', { class: `staffing-total total-${key}`, dataset: { total: key, value: String(tot[key]) } }, h('strong', {}, formatNumber(tot[key])), ` ${t(`staffing.total.${key}`)}`);
    const raise = gaps.raise;
    replace(
      $('staffing-totals'),
      h(
        'p',
        { class: 'staffing-totals-line' },
        h('span', {}, t('staffing.totals', { level: gaps.level.name, shifts: gaps.shifts })),
        ['needed', 'confirmed', 'proposed', 'short'].map(figure),
      ),
      gaps.by_directorate?.length
        ? h(
            'ul',
            { class: 'staffing-by', 'aria-label': t('staffing.byDirectorate') },
            gaps.by_directorate.map((d) => h('li', { dataset: { directorate: d.key, short: String(d.short) }, class: d.short ? 'short' : null }, t('staffing.byDirectorate.item', { key: d.key, short: formatNumber(d.short), needed: formatNumber(d.needed) }))),
          )
        : null,
      h('p', { class: 'note', dataset: { raise: raise ? String(raise.extra_short) : '' } }, raise ? t('staffing.raise', { level: raise.level.name, n: formatNumber(raise.extra_short), positions: raise.opening.length }) : t('staffing.raise.none')),
    );
  }

  /** The assignments of the window not declined, by cell. */
  function assignmentsByCell() {
    const out = new Map();
    for (const a of assignments) {
      if (a.status === 'declined') continue;
      const k = cellKey(a.position, a.day, a.shift);
      if (!out.has(k)) out.set(k, []);
      out.get(k).push(a);
    }
    return out;
  }

  /** The proposals of the window (what "Confirmer les propositions" confirms). */
  const proposedInView = () => assignments.filter((a) => a.status === 'proposed');

  /** Where a position is, in words. */
  function placeText(place) {
    if (place?.venue) return place.label ? `${place.label} (${place.venue})` : place.venue;
    if (place?.point) return place.label || place.point.map((x) => x.toFixed(4)).join(', ');
    return place?.label || plan().room.label;
  }

  function renderGrid() {
    const p = plan();
    const li = levelIndex();
    const byCell = assignmentsByCell();
    const persons = personById();
    const pick = picked ? persons.get(picked) : null;
    const now = overview.shift;
    const isNow = (s) => !!now && now.day === s.day && now.shift === s.shift;
    // Keep the keyboard focus where it was across live redraws.
    const focusKey = grid.contains(document.activeElement) ? document.activeElement.dataset.focus : null;
    grid.classList.toggle('picking', !!pick);
    replace(
      grid,
      h('caption', { class: 'visually-hidden' }, t('staffing.grid.caption', { level: p.levels[li] })),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { scope: 'col', class: 'corner' }, t('staffing.grid.position')),
          shifts.map((s) =>
            h(
              'th',
              { scope: 'col', class: isNow(s) ? 'now' : null, dataset: { day: s.day, shift: s.shift }, title: `${localText(s.local_start)} → ${localText(s.local_end)}` },
              h('span', { class: 'day' }, localText(s.day, { weekday: 'short', day: '2-digit', month: '2-digit' })),
              h('span', { class: 'shift' }, s.shift),
              h('span', { class: 'muted' }, `${hourOf(s.local_start)}–${hourOf(s.local_end)}`),
            ),
          ),
        ),
      ),
      h(
        'tbody',
        {},
        p.positions.map((pos) =>
          h(
            'tr',
            { dataset: { position: pos.id, directorate: pos.directorate }, class: pick && pick.directorate === pos.directorate ? 'pick-match' : null },
            h(
              'th',
              { scope: 'row' },
              h('span', { class: 'position-title' }, pos.title),
              h('span', { class: 'muted' }, [pos.directorate, placeText(pos.place), (pos.skills || []).join(', ')].filter(Boolean).join(' · ')),
            ),
            shifts.map((s) => cell(pos, s, byCell.get(cellKey(pos.id, s.day, s.shift)) || [], li, persons, pick, isNow(s))),
          ),
        ),
      ),
    );
    if (focusKey) grid.querySelector(`[data-focus="${CSS.escape(focusKey)}"]`)?.focus();
  }

  /** One cell: its people against the need at level `li`. */
  function cell(pos, s, list, li, persons, pick, now) {
    const needed = pos.needs[li] ?? 0;
    const confirmed = list.filter((a) => a.status === 'confirmed').length;
    const proposed = list.filter((a) => a.status === 'proposed').length;
    let state = 'full';
    if (!needed) state = 'closed';
    else if (confirmed < needed) state = confirmed + proposed >= needed ? 'covered' : 'short';
    const mine = manager();
    const where = `${pos.title}, ${localText(s.day, { weekday: 'short', day: '2-digit', month: '2-digit' })} ${s.shift}`;
    return h(
      'td',
      {
        class: `cell cell-${state}${now ? ' now' : ''}`,
        dataset: { position: pos.id, day: s.day, shift: s.shift, state, needed: String(needed), confirmed: String(confirmed), proposed: String(proposed) },
        title: t(`staffing.cell.${state}`, { needed, confirmed, proposed }),
      },
      h(
        'ul',
        { class: 'chips' },
        list.map((a) => {
          const name = persons.get(a.person)?.name || a.person;
          const label = t('staffing.chip.aria', { name, status: t(`staffing.status.${a.status}`) });
          const chip = mine
            ? h(
                'button',
                { type: 'button', class: 'chip', dataset: { assignment: String(a.id), person: a.person, status: a.status, focus: `chip-${a.id}` }, 'aria-expanded': String(menu === a.id), 'aria-label': label, title: label, onclick: () => toggleMenu(a.id) },
                name,
              )
            : h('span', { class: 'chip', dataset: { assignment: String(a.id), person: a.person, status: a.status }, title: label }, name);
          return h('li', {}, chip, mine && menu === a.id ? chipMenu(a, name, where) : null);
        }),
      ),
      h('span', { class: 'cell-count', 'aria-hidden': 'true' }, needed ? `${confirmed}/${needed}` : t('staffing.cell.closed.short')),
      mine && pick
        ? h(
            'button',
            { type: 'button', class: 'cell-assign', dataset: { focus: `assign-${pos.id}-${s.day}-${s.shift}` }, 'aria-label': t('staffing.assign.here', { name: pick.name, where }), title: t('staffing.assign.here', { name: pick.name, where }), onclick: () => assign(pick.id, pos, s) },
            '+',
          )
        : null,
    );
  }

  /** The actions of an assignment, under its chip. */
  function chipMenu(a, name, where) {
    const buttons = CHIP_MOVES.filter((to) => to !== a.status).map((to) =>
      h('button', { type: 'button', class: 'button-quiet small', dataset: { move: to, focus: `move-${a.id}-${to}` }, onclick: () => changeAssignment(a, name, { status: to }) }, t(`staffing.chip.${to}`)),
    );
    buttons.push(h('button', { type: 'button', class: 'button-quiet small danger-text', dataset: { move: 'remove', focus: `move-${a.id}-remove` }, onclick: () => changeAssignment(a, name, null) }, t('staffing.chip.remove')));
    return h('span', { class: 'chip-menu', role: 'group', 'aria-label': t('staffing.chip.menu', { name, where }) }, buttons);
  }

  function toggleMenu(id) {
    menu = menu === id ? null : id;
    renderGrid();
    grid.querySelector(`[data-focus="chip-${id}"]`)?.focus();
  }

  function renderPeople() {
    const dirSelect = $('staffing-dir');
    const dirs = [...new Set([...plan().positions.map((p) => p.directorate), ...people.map((p) => p.directorate)])].sort();
    fillSelect(dirSelect, [['', t('staffing.people.dir.all')], ...dirs.map((d) => [d, d])], dirs.includes(dirSelect.value) ? dirSelect.value : '');
    const dir = dirSelect.value;
    const q = $('staffing-q').value.trim().toLowerCase();
    const list = people.filter((p) => (!dir || p.directorate === dir) && (!q || [p.id, p.name, ...(p.skills || [])].some((x) => String(x).toLowerCase().includes(q))));
    // Shifts of the window each person holds, and who is away during it.
    const held = new Map();
    for (const a of assignments) if (a.status !== 'declined') held.set(a.person, (held.get(a.person) || 0) + 1);
    const first = shifts[0]?.start;
    const last = shifts[shifts.length - 1]?.end;
    const away = (p) => !!first && (p.unavailable || []).some((u) => u.start < last && u.end > first);
    const mine = manager();
    const focusKey = peopleList.contains(document.activeElement) ? document.activeElement.dataset.focus : null;
    replace(
      peopleList,
      list.map((p) =>
        h(
          'li',
          { dataset: { person: p.id, directorate: p.directorate }, draggable: mine ? 'true' : null, class: picked === p.id ? 'picked' : null },
          mine
            ? h('button', { type: 'button', class: 'person-pick', dataset: { focus: `person-${p.id}` }, 'aria-pressed': String(picked === p.id), onclick: () => pickPerson(p.id) }, p.name)
            : h('span', { class: 'person-name' }, p.name),
          h(
            'span',
            { class: 'muted' },
            [p.directorate, (p.skills || []).join(', '), held.get(p.id) ? t('staffing.people.shifts', { n: held.get(p.id) }) : null].filter(Boolean).join(' · '),
            away(p) ? h('span', { class: 'badge away' }, t('staffing.people.away')) : null,
          ),
          h('a', { class: 'ics', href: wsUrl(`/api/staffing/people/${encodeURIComponent(p.id)}/calendar.ics`), download: `${p.id}.ics`, 'aria-label': t('staffing.people.ics.aria', { name: p.name }), title: t('staffing.people.ics.aria', { name: p.name }) }, t('staffing.people.ics')),
        ),
      ),
    );
    if (focusKey) peopleList.querySelector(`[data-focus="${CSS.escape(focusKey)}"]`)?.focus();
    $('staffing-people-count').textContent = t('staffing.people.count', { n: list.length, total: people.length });
    $('staffing-people-help').textContent = mine ? t('staffing.people.help') : '';
  }

  // ------------------------------------------------------------ assigning

  /** Picks a person for click assignment (again: unpicks). */
  function pickPerson(id) {
    picked = picked === id ? null : id;
    const p = picked ? personById().get(picked) : null;
    status(p ? () => t('staffing.people.picked', { name: p.name }) : null);
    renderGrid();
    renderPeople();
  }

  /** The rules an assignment breaks (a 422's `breaches`), one line each. */
  function breachList(breaches) {
    return h(
      'ul',
      { class: 'staffing-breaches' },
      breaches.map((b) => {
        // A rule this page does not know yet is shown by its name alone.
        const known = t(`staffing.rule.${b.rule}`);
        const name = known === `staffing.rule.${b.rule}` ? null : h('strong', {}, known, ' ');
        return h('li', { dataset: { rule: b.rule } }, name, h('code', {}, b.rule), ` — ${b.detail}`);
      }),
    );
  }

  /**
   * A refused change's alert: the rules broken (with `head`, a function giving the line above
   * them), the fields at fault, or the problem's detail.
   */
  async function refused(r, head = () => t('staffing.rules.broken')) {
    const p = await problemBody(r);
    if (Array.isArray(p?.breaches) && p.breaches.length) {
      const breaches = p.breaches;
      alert(() => [h('p', {}, head()), breachList(breaches)]);
      return;
    }
    const reasons = Array.isArray(p?.errors) ? p.errors.map((x) => (x.field ? `${x.field} : ${x.reason}` : x.reason)).join(' ; ') : '';
    const msg = reasons || p?.detail || p?.title || `HTTP ${r.status}`;
    alert(() => [h('p', {}, t('staffing.refused', { msg }))]);
  }

  /** POST /api/staffing/assignments: `personId` on position `pos`, shift `s`, confirmed. */
  async function assign(personId, pos, s) {
    if (!manager()) return;
    const person = personById().get(personId);
    const name = person?.name || personId;
    alert(null);
    status(() => t('staffing.assign.pending', { name }));
    try {
      const r = await app.apiFetch('/api/staffing/assignments', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ person: personId, position: pos.id, day: s.day, shift: s.shift, status: 'confirmed' }),
        cache: 'no-store',
      });
      if (r.status !== 201) {
        status(null);
        await refused(r, () => t('staffing.assign.breaches', { name, position: pos.title }));
        return;
      }
      status(() => t('staffing.assign.done', { name, position: pos.title, shift: `${localText(s.day, { weekday: 'short', day: '2-digit', month: '2-digit' })} ${s.shift}` }), 'ok');
      await load();
    } catch (e) {
      const msg = e.message;
      status(() => t('staffing.refused', { msg }), 'warn');
    }
  }

  /** PATCH (`change` given) or DELETE (null) an assignment from its chip. */
  async function changeAssignment(a, name, change) {
    alert(null);
    const path = `/api/staffing/assignments/${a.id}`;
    try {
      const r = change
        ? await app.apiFetch(path, { method: 'PATCH', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(change), cache: 'no-store' })
        : await app.apiFetch(path, { method: 'DELETE', cache: 'no-store' });
      if (!r.ok) {
        await refused(r, () => t('staffing.change.breaches', { name }));
        return;
      }
      menu = null;
      const done = change ? `staffing.changed.${change.status}` : 'staffing.changed.removed';
      status(() => t(done, { name }), 'ok');
      await load();
      // The keyboard stays in the grid: on the chip, else on the cell's next one, else on the grid.
      if (!grid.contains(document.activeElement)) {
        const td = grid.querySelector(`td[data-position="${CSS.escape(a.position)}"][data-day="${a.day}"][data-shift="${CSS.escape(a.shift)}"]`);
        (grid.querySelector(`[data-focus="chip-${a.id}"]`) || td?.querySelector('.chip') || $('staffing-grid-wrap')).focus();
      }
    } catch (e) {
      const msg = e.message;
      status(() => t('staffing.refused', { msg }), 'warn');
    }
  }

  /** The cell a drag or a click lands on: `{pos, s}`, or null. */
  function cellAt(td) {
    if (!td?.dataset.position) return null;
    const pos = plan().positions.find((p) => p.id === td.dataset.position);
    const s = shifts.find((x) => x.day === td.dataset.day && x.shift === td.dataset.shift);
    return pos && s ? { pos, s } : null;
  }

  /** The person being dragged (set at dragstart: dragover may not read the data). */
  let dragging = null;
  /** Whether a load came during the drag (see `load`). */
  let drawAfterDrag = false;

  peopleList.addEventListener('dragstart', (e) => {
    const li = e.target.closest?.('li[data-person]');
    if (!li || !manager()) return;
    dragging = li.dataset.person;
    e.dataTransfer.setData('text/plain', dragging);
    e.dataTransfer.effectAllowed = 'copy';
    grid.classList.add('dropping');
  });
  peopleList.addEventListener('dragend', () => {
    dragging = null;
    grid.classList.remove('dropping');
    for (const td of grid.querySelectorAll('.drop-target')) td.classList.remove('drop-target');
    if (drawAfterDrag) {
      drawAfterDrag = false;
      render();
    }
  });
  grid.addEventListener('dragover', (e) => {
    const td = e.target.closest?.('td[data-position]');
    if (!td || !dragging) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
    if (!td.classList.contains('drop-target')) {
      for (const other of grid.querySelectorAll('.drop-target')) other.classList.remove('drop-target');
      td.classList.add('drop-target');
    }
  });
  grid.addEventListener('dragleave', (e) => {
    const td = e.target.closest?.('td[data-position]');
    if (td && !td.contains(e.relatedTarget)) td.classList.remove('drop-target');
  });
  grid.addEventListener('drop', (e) => {
    const td = e.target.closest?.('td[data-position]');
    const id = e.dataTransfer.getData('text/plain') || dragging;
    if (!td || !id) return;
    e.preventDefault();
    td.classList.remove('drop-target');
    const at = cellAt(td);
    if (at) assign(id, at.pos, at.s);
  });
  // A click anywhere in a cell assigns the picked person (the "+" button is the keyboard's way).
  grid.addEventListener('click', (e) => {
    if (!picked || !manager() || e.target.closest('button, a')) return;
    const at = cellAt(e.target.closest('td[data-position]'));
    if (at) assign(picked, at.pos, at.s);
  });

  // ------------------------------------------------------------ the level

  async function changeLevel(e) {
    e.preventDefault();
    const error = $('staffing-level-error');
    const reason = $('staffing-level-reason');
    error.textContent = '';
    reason.removeAttribute('aria-invalid');
    const level = Number($('staffing-level-select').value);
    const body = { level, reason: reason.value.trim() };
    if (!body.reason) {
      error.textContent = t('staffing.level.reason.required');
      reason.setAttribute('aria-invalid', 'true');
      reason.focus();
      return;
    }
    const atValue = $('staffing-level-at').value;
    if (atValue) {
      const at = new Date(atValue);
      if (Number.isNaN(at.getTime())) {
        error.textContent = t('staffing.level.badtime');
        $('staffing-level-at').focus();
        return;
      }
      body.at = at.toISOString();
    }
    const submit = $('staffing-level-submit');
    submit.disabled = true;
    error.textContent = t('staffing.level.pending');
    try {
      const r = await app.apiFetch('/api/staffing/level', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), cache: 'no-store' });
      if (r.status !== 201) {
        const p = await problemBody(r);
        const reasons = Array.isArray(p?.errors) ? p.errors.map((x) => `${x.field} : ${x.reason}`).join(' ; ') : '';
        error.textContent = t('staffing.level.failed', { msg: reasons || p?.detail || `HTTP ${r.status}` });
        return;
      }
      const made = await r.json();
      error.textContent = '';
      // The level chosen stays: it is the one in effect (or coming) now.
      reason.value = '';
      $('staffing-level-at').value = '';
      const name = overview.plan.levels[level];
      const at = made.change?.local;
      status(made.scheduled ? () => t('staffing.level.scheduled', { name, at: localText(at) }) : () => t('staffing.level.done', { name }), 'ok');
      await load();
    } catch (err) {
      error.textContent = t('staffing.level.failed', { msg: err.message });
    } finally {
      submit.disabled = false;
    }
  }

  async function cancelLevel(c) {
    alert(null);
    try {
      const r = await app.apiFetch(`/api/staffing/level/${c.id}`, { method: 'DELETE', cache: 'no-store' });
      if (!r.ok) {
        await refused(r);
        return;
      }
      status(() => t('staffing.scheduled.cancelled', { name: c.name }), 'ok');
      await load();
      $('staffing-level-select').focus();
    } catch (e) {
      const msg = e.message;
      status(() => t('staffing.refused', { msg }), 'warn');
    }
  }

  // ------------------------------------------------------------ suggestions, confirmation

  async function suggest() {
    const button = $('staffing-suggest');
    button.disabled = true;
    alert(null);
    status(() => t('staffing.suggest.pending'));
    try {
      const r = await app.apiFetch('/api/staffing/suggestions', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ level: levelIndex(), from: view.from, days: view.days, apply: true }),
        cache: 'no-store',
      });
      if (!r.ok) {
        status(null);
        await refused(r);
        return;
      }
      const s = await r.json();
      status(() => t('staffing.suggest.done', { filled: s.applied?.length ?? s.filled, unfilled: s.unfilled }), 'ok');
      await load();
    } catch (e) {
      const msg = e.message;
      status(() => t('staffing.refused', { msg }), 'warn');
    } finally {
      button.disabled = false;
    }
  }

  async function confirmAll() {
    const ids = proposedInView().map((a) => a.id);
    if (!ids.length) {
      status(() => t('staffing.confirmAll.none'));
      return;
    }
    const button = $('staffing-confirm-all');
    button.disabled = true;
    alert(null);
    try {
      const r = await app.apiFetch('/api/staffing/assignments/confirm', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ ids }), cache: 'no-store' });
      if (!r.ok) {
        await refused(r);
        return;
      }
      const n = (await r.json()).confirmed;
      status(() => t('staffing.confirmAll.done', { n }), 'ok');
      await load();
    } catch (e) {
      const msg = e.message;
      status(() => t('staffing.refused', { msg }), 'warn');
    } finally {
      button.disabled = !proposedInView().length;
    }
  }

  // ------------------------------------------------------------ import

  /** The 422 `errors` of an import (`line N: field` and why), one line each. */
  function importErrors(errors) {
    return [h('p', {}, t('staffing.import.invalid', { n: errors.length })), h('ul', { class: 'error-groups' }, errors.map((x) => h('li', { dataset: { field: x.field || '' } }, x.field ? `${x.field} — ${x.reason}` : x.reason)))];
  }

  async function importRoster() {
    const input = $('staffing-import-file');
    const file = input.files?.[0];
    const out = $('staffing-import-error');
    replace(out);
    if (!file) return;
    const note = $('staffing-import-status');
    note.className = 'note';
    note.textContent = t('staffing.import.pending', { file: file.name });
    try {
      const r = await app.apiFetch('/api/staffing/people', { method: 'POST', headers: { 'Content-Type': 'text/csv' }, body: await file.text(), cache: 'no-store' });
      if (r.status !== 201) {
        const p = await problemBody(r);
        note.textContent = '';
        if (Array.isArray(p?.errors) && p.errors.length) replace(out, importErrors(p.errors));
        else replace(out, t('staffing.import.failed', { msg: p?.detail || p?.title || `HTTP ${r.status}` }));
        return;
      }
      const made = await r.json();
      note.className = 'note ok';
      note.textContent = t('staffing.import.done', { n: made.stored });
      input.value = '';
      await load();
    } catch (e) {
      note.textContent = '';
      replace(out, t('staffing.import.failed', { msg: e.message }));
    }
  }

  // ------------------------------------------------------------ the window

  function changeWindow() {
    const from = $('staffing-from').value;
    const days = Math.round(Number($('staffing-days').value));
    if (/^\d{4}-\d{2}-\d{2}$/.test(from)) view.from = from;
    if (days >= 1 && days <= MAX_DAYS) view.days = days;
    view.level = $('staffing-plan-level').value;
    menu = null;
    load();
  }

  // ------------------------------------------------------------ live

  /** The EventSource the `staffing` listener is on: live.js opens a new one when it reconnects. */
  let listening = null;

  function listen() {
    const es = app.events;
    if (!es || es === listening) return;
    listening = es;
    es.addEventListener('staffing', (ev) => {
      let data;
      try {
        data = JSON.parse(ev.data);
      } catch {
        return;
      }
      onEvent(data);
    });
  }

  /** A staffing change (any replica): the badge at once, the dialog and the map soon. */
  function onEvent(data) {
    if (data.level && overview && overview.level.name !== data.level) {
      const index = overview.plan.levels.indexOf(data.level);
      if (index >= 0) {
        overview.level = { ...overview.level, index, name: data.level };
        renderBadge();
      }
    }
    if (readable) refreshSoon(data.what);
    const vis = app.visible();
    if (app.catalog.layers.some((l) => l.kind === 'staffing' && vis.has(l.id))) app.refreshTiles();
  }

  // ------------------------------------------------------------ the dialog

  async function open() {
    if (!readable) return;
    listen();
    if (!dialog.open) dialog.showModal();
    if (!gaps) status(loadingSaid);
    $('staffing-close').focus();
    await load();
  }

  function close() {
    if (dialog.open) dialog.close();
  }

  /** Shows the button (and its badge) to those who see the staffing. */
  function applyRole() {
    opener.hidden = !readable || !app.me;
    if (opener.hidden) close();
  }

  /** Asks GET /api/staffing whether the asker sees the staffing (a 403 hides the button). */
  async function probe() {
    listen();
    try {
      const r = await app.apiFetch('/api/staffing', { cache: 'no-store' });
      readable = r.ok;
      if (r.ok) takeOverview(await r.json());
    } catch {
      readable = false;
    }
    applyRole();
  }

  // The map draws the layer's "short" badges from images made here, asked for as it needs them.
  app.map?.on('styleimagemissing', (e) => {
    const badge = badgeImage(e.id);
    if (badge && !app.map.hasImage(e.id)) app.map.addImage(e.id, badge.image, { pixelRatio: badge.pixelRatio });
  });

  opener.addEventListener('click', open);
  $('staffing-close').addEventListener('click', close);
  $('staffing-level-form').addEventListener('submit', changeLevel);
  $('staffing-window').addEventListener('submit', (e) => {
    e.preventDefault();
    changeWindow();
  });
  for (const id of ['staffing-from', 'staffing-days', 'staffing-plan-level']) $(id).addEventListener('change', changeWindow);
  $('staffing-suggest').addEventListener('click', suggest);
  $('staffing-confirm-all').addEventListener('click', confirmAll);
  $('staffing-import-file').addEventListener('change', importRoster);
  $('staffing-dir').addEventListener('change', () => {
    renderPeople();
    renderControls();
  });
  $('staffing-q').addEventListener('input', debounce(renderPeople, 150));
  $('staffing-people-filter').addEventListener('submit', (e) => e.preventDefault());
  // Escape closes a chip's actions, then unpicks the person, then closes the dialog.
  dialog.addEventListener('cancel', (e) => {
    if (menu !== null) {
      e.preventDefault();
      const id = menu;
      toggleMenu(id);
    } else if (picked) {
      e.preventDefault();
      const id = picked;
      pickPerson(id);
      peopleList.querySelector(`[data-focus="person-${CSS.escape(id)}"]`)?.focus();
    }
  });
  dialog.addEventListener('close', () => {
    menu = null;
    if (!opener.hidden) opener.focus();
  });
  app.on('live-resumed', () => {
    listen();
    if (readable) refreshSoon(null);
  });
  app.on('identity', async () => {
    listen();
    await probe();
    if (dialog.open) load();
  });
  app.on('lang', () => {
    translate(dialog);
    if (said) status(said.fn, said.kind);
    if (alerted) alert(alerted);
    render();
  });

  return { probe, open, close, applyRole };
}
