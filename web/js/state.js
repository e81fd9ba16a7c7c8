// The view's state and its URL form. Everything a shared link must restore lives in the
// hash: `#map=11.50/48.85660/2.35220&layers=venues,health&from=…&to=…&severity=2&
// qualification=raw,in_review&lang=en&mode=wall&basemap=off&greyscale=on`. The hash (not the
// query) so that moving the map never reloads the page; `?basemap=` stays in the query (a
// deployment setting). The basemap switches are written only away from their defaults (shown,
// in colour), so links made before them keep meaning what they meant.

export const QUALIFICATIONS = ['raw', 'in_review', 'confirmed', 'refuted', 'closed'];
/** The server's default qualification filter: everything but refuted. */
export const DEFAULT_QUALIFICATIONS = ['raw', 'in_review', 'confirmed', 'closed'];
export const RELATIVE_WINDOWS = ['1h', '6h', '24h'];
export const DEFAULT_WINDOW = { kind: 'last', last: '24h' };
export const DEFAULT_VIEW = { center: [2.3522, 48.8566], zoom: 11 };

/** The state restored from a URL hash; `layers` is null when the hash does not list them. */
export function parseHash(hash) {
  const p = new URLSearchParams(String(hash || '').replace(/^#/, ''));
  const state = {
    layers: null,
    window: null,
    severity: 0,
    qualification: [...DEFAULT_QUALIFICATIONS],
    center: null,
    zoom: null,
    lang: null,
    mode: 'desk',
    basemap: true,
    greyscale: false,
  };
  if (p.has('layers')) state.layers = p.get('layers').split(',').map((s) => s.trim()).filter(Boolean);
  const last = p.get('last');
  if (last && /^\d+[mhd]$/.test(last)) state.window = { kind: 'last', last };
  const from = p.get('from');
  const to = p.get('to');
  if (from && !Number.isNaN(Date.parse(from))) {
    state.window = { kind: 'range', from: new Date(from).toISOString(), to: to && !Number.isNaN(Date.parse(to)) ? new Date(to).toISOString() : null };
  }
  const sev = Number(p.get('severity'));
  if (Number.isInteger(sev) && sev >= 0 && sev <= 4) state.severity = sev;
  const q = p.get('qualification');
  if (q === 'all') state.qualification = [...QUALIFICATIONS];
  else if (q) {
    const list = q.split(',').filter((s) => QUALIFICATIONS.includes(s));
    if (list.length) state.qualification = QUALIFICATIONS.filter((s) => list.includes(s));
  }
  const m = (p.get('map') || '').split('/').map(Number);
  if (m.length === 3 && m.every(Number.isFinite) && Math.abs(m[1]) <= 85 && Math.abs(m[2]) <= 180) {
    state.zoom = Math.min(Math.max(m[0], 0), 22);
    state.center = [m[2], m[1]];
  }
  const lang = p.get('lang');
  if (lang === 'fr' || lang === 'en') state.lang = lang;
  if (p.get('mode') === 'wall') state.mode = 'wall';
  if (p.get('basemap') === 'off') state.basemap = false;
  if (p.get('greyscale') === 'on') state.greyscale = true;
  return state;
}

/** The hash of a state (stable parameter order, so identical views give identical links). */
export function toHash(state) {
  const parts = [];
  if (state.center && Number.isFinite(state.zoom)) {
    parts.push(`map=${state.zoom.toFixed(2)}/${state.center[1].toFixed(5)}/${state.center[0].toFixed(5)}`);
  }
  if (state.layers) parts.push(`layers=${state.layers.map(encodeURIComponent).join(',')}`);
  for (const [k, v] of windowParams(state.window)) parts.push(`${k}=${encodeURIComponent(v)}`);
  if (state.severity > 0) parts.push(`severity=${state.severity}`);
  const q = qualificationParam(state.qualification);
  if (q) parts.push(`qualification=${q}`);
  if (state.lang && state.lang !== 'fr') parts.push(`lang=${state.lang}`);
  if (state.mode === 'wall') parts.push('mode=wall');
  if (state.basemap === false) parts.push('basemap=off');
  if (state.greyscale) parts.push('greyscale=on');
  return `#${parts.join('&')}`;
}

/** `[name, value]` pairs of the time window. */
export function windowParams(w) {
  if (!w) return [];
  if (w.kind === 'last') return [['last', w.last]];
  const out = [['from', w.from]];
  if (w.to) out.push(['to', w.to]);
  return out;
}

/** The `qualification` parameter, or null for the server's default. */
export function qualificationParam(list) {
  const set = QUALIFICATIONS.filter((q) => list.includes(q));
  if (set.length === DEFAULT_QUALIFICATIONS.length && DEFAULT_QUALIFICATIONS.every((q) => set.includes(q))) return null;
  if (set.length === QUALIFICATIONS.length) return 'all';
  // Never empty: the filter panel keeps at least one state ticked.
  return set.join(',');
}

/** The filter query string shared by tiles, the entry list and region queries. */
export function filterQuery(state) {
  const p = new URLSearchParams();
  for (const [k, v] of windowParams(state.window)) p.set(k, v);
  if (state.severity > 0) p.set('severity', String(state.severity));
  const q = qualificationParam(state.qualification);
  if (q) p.set('qualification', q);
  return p.toString();
}

/** Milliseconds of a relative window such as `6h`. */
export function durationMs(last) {
  const m = /^(\d+)([mhd])$/.exec(last || '');
  if (!m) return 0;
  return Number(m[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2]];
}

/** `[fromMs, toMs]` of the window now (`toMs` Infinity when open-ended). */
export function windowBounds(w, now = Date.now()) {
  if (!w) return [-Infinity, Infinity];
  if (w.kind === 'last') return [now - durationMs(w.last), Infinity];
  return [Date.parse(w.from), w.to ? Date.parse(w.to) : Infinity];
}
