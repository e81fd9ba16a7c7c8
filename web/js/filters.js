// The filters panel: time window (relative, custom range, or the data's newest week), minimum
// severity and qualification states. A change points the tiles at the new filters, writes the
// hash and announces `filters` (the courante reloads).

import { t, currentLang, formatTime } from './i18n.js';
import { h, $, replace } from './dom.js';
import * as S from './state.js';

/** Length of the "latest activity" window, ms. */
const DATA_WINDOW_MS = 7 * 86_400_000;
/** How often a relative window slides (tiles and list refetched), ms. */
const SLIDE_MS = 60_000;

function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The window of "latest activity": the 7 days up to the newest entry (next full hour). */
export function dataWindow(newest) {
  const at = Date.parse(newest.occurred_at);
  const to = Math.ceil((at + 1) / 3_600_000) * 3_600_000;
  return { kind: 'range', from: new Date(to - DATA_WINDOW_MS).toISOString(), to: new Date(to).toISOString() };
}

/** The newest entry of the log (any qualification), or null when there is none or on error. */
export async function fetchNewest(app) {
  try {
    const r = await app.apiFetch('/api/entries?limit=1&qualification=all');
    if (!r.ok) return null;
    const body = await r.json();
    return body.entries?.[0] || null;
  } catch {
    return null;
  }
}

/** The filters panel, bound to the page's shared `app`; wires its controls and renders them. */
export function createFilters(app) {
  let builtFor = null;

  function render() {
    const w = app.state.window;
    for (const b of document.querySelectorAll('[data-last]')) b.setAttribute('aria-pressed', String(w?.kind === 'last' && w.last === b.dataset.last));
    const custom = w?.kind === 'range';
    $('time-custom').setAttribute('aria-pressed', String(custom));
    if (custom) {
      $('time-range').hidden = false;
      $('time-from').value = toLocalInput(w.from);
      $('time-to').value = toLocalInput(w.to);
    }
    $('time-custom').setAttribute('aria-expanded', String(!$('time-range').hidden));
    // Controls are rebuilt only when their labels change (language): rebuilding them on every
    // change would drop the keyboard focus.
    const sev = $('severity');
    if (builtFor !== currentLang()) {
      builtFor = currentLang();
      replace(
        sev,
        h('option', { value: '0' }, t('severity.any')),
        [1, 2, 3, 4].map((n) => h('option', { value: String(n) }, `≥ ${t(`severity.${n}`)}`)),
      );
      replace(
        $('qualifications'),
        S.QUALIFICATIONS.map((q) =>
          h(
            'label',
            {},
            h('input', {
              type: 'checkbox',
              value: q,
              onchange: (e) => {
                const on = new Set(app.state.qualification);
                if (e.target.checked) on.add(q);
                else on.delete(q);
                if (!on.size) {
                  e.target.checked = true; // at least one state stays ticked
                  return;
                }
                app.state.qualification = S.QUALIFICATIONS.filter((x) => on.has(x));
                changed();
              },
            }),
            t(`qualification.${q}`),
          ),
        ),
      );
    }
    sev.value = String(app.state.severity);
    for (const box of $('qualifications').querySelectorAll('input')) box.checked = app.state.qualification.includes(box.value);
    updateTimeNote();
  }

  function updateTimeNote() {
    const note = $('time-note');
    note.classList.remove('warn');
    const w = app.state.window;
    const newestAt = app.newest ? Date.parse(app.newest.occurred_at) : null;
    if (w?.kind === 'last' && newestAt !== null && newestAt < S.windowBounds(w)[0]) {
      note.textContent = t('time.empty', { since: formatTime(S.windowBounds(w)[0]), last: formatTime(newestAt) });
      note.classList.add('warn');
    } else if (app.jumped && w?.kind === 'range') {
      note.textContent = t('time.jumped', { last: formatTime(newestAt) });
    } else {
      note.textContent = '';
    }
  }

  /** After `app.state`'s filters changed: tiles, hash, controls, then the `filters` event. */
  function changed() {
    app.tiles.update();
    app.writeHash();
    render();
    app.emit('filters');
  }

  for (const b of document.querySelectorAll('[data-last]')) {
    b.addEventListener('click', () => {
      app.state.window = { kind: 'last', last: b.dataset.last };
      app.jumped = false;
      $('time-range').hidden = true;
      changed();
    });
  }
  $('time-custom').addEventListener('click', () => {
    const form = $('time-range');
    form.hidden = !form.hidden;
    if (!form.hidden && app.state.window?.kind !== 'range') {
      const [from] = S.windowBounds(app.state.window);
      $('time-from').value = toLocalInput(new Date(Number.isFinite(from) ? from : Date.now() - 86_400_000).toISOString());
      $('time-to').value = toLocalInput(new Date().toISOString());
    }
    $('time-custom').setAttribute('aria-expanded', String(!form.hidden));
    if (!form.hidden) $('time-from').focus();
  });
  $('time-range').addEventListener('submit', (e) => {
    e.preventDefault();
    const from = $('time-from').value ? new Date($('time-from').value) : null;
    const to = $('time-to').value ? new Date($('time-to').value) : null;
    if (!from || Number.isNaN(from.getTime()) || (to && !(to > from))) {
      $('time-note').textContent = t('time.badrange');
      $('time-note').classList.add('warn');
      return;
    }
    app.state.window = { kind: 'range', from: from.toISOString(), to: to ? to.toISOString() : null };
    app.jumped = false;
    changed();
  });
  $('time-data').addEventListener('click', async () => {
    app.newest = (await fetchNewest(app)) || app.newest;
    if (!app.newest) return;
    app.state.window = dataWindow(app.newest);
    app.jumped = true;
    changed();
  });
  $('severity').addEventListener('change', (e) => {
    app.state.severity = Number(e.target.value) || 0;
    changed();
  });
  // Relative windows slide: refetch tiles and the list every minute.
  setInterval(() => {
    if (app.state.window?.kind === 'last') {
      app.refreshTiles();
      app.emit('filters');
    }
  }, SLIDE_MS);

  render();
  return { render, changed };
}
