// Small DOM helpers. Every text reaches the page through textContent or the escaping
// renderer below: no untrusted string is ever parsed as HTML.

/**
 * Creates an element: `h('a', {href: u, class: 'x'}, 'text', child)`.
 * Attributes starting with `on` become listeners; `null`/`false` attributes are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'style' && typeof v === 'object') {
      for (const [sk, sv] of Object.entries(v)) {
        if (sk.startsWith('--')) el.style.setProperty(sk, sv);
        else el.style[sk] = sv;
      }
    }
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** Replaces the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** `document.getElementById`. */
export const $ = (id) => document.getElementById(id);

/** Whether a URL is an absolute http(s) URL (the only links the page renders). */
export function safeHttpUrl(u) {
  try {
    const url = new URL(u);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

/** An external link: http(s) only, new tab, no opener, no referrer. */
export function externalLink(url, text) {
  const href = safeHttpUrl(url);
  if (!href) return h('span', {}, text || url);
  return h('a', { href, target: '_blank', rel: 'noopener noreferrer' }, text || href);
}

/**
 * Renders the tiny markdown subset of entry bodies into DOM nodes: **bold**, *italic*
 * (or _italic_), line breaks and blank-line paragraphs. Built with text nodes only, so any
 * HTML in the body shows as text.
 */
export function markdown(text) {
  const frag = document.createDocumentFragment();
  const paragraphs = String(text || '').replace(/\r\n?/g, '\n').split(/\n{2,}/);
  for (const para of paragraphs) {
    if (!para.trim()) continue;
    const p = document.createElement('p');
    const lines = para.split('\n');
    lines.forEach((line, i) => {
      if (i > 0) p.appendChild(document.createElement('br'));
      inline(p, line);
    });
    frag.appendChild(p);
  }
  return frag;
}

function inline(parent, line) {
  // Tokens: **bold**, *italic*, _italic_; anything else is literal text.
  const re = /\*\*([^*]+?)\*\*|\*([^*\s][^*]*?)\*|_([^_\s][^_]*?)_/g;
  let last = 0;
  for (let m = re.exec(line); m; m = re.exec(line)) {
    if (m.index > last) parent.appendChild(document.createTextNode(line.slice(last, m.index)));
    if (m[1] !== undefined) parent.appendChild(h('strong', {}, m[1]));
    else parent.appendChild(h('em', {}, m[2] ?? m[3]));
    last = m.index + m[0].length;
  }
  if (last < line.length) parent.appendChild(document.createTextNode(line.slice(last)));
}

/** Reads a problem+json (or any) error body into a short message. */
export async function problemMessage(resp) {
  try {
    const body = await resp.json();
    return body.detail || body.title || `HTTP ${resp.status}`;
  } catch {
    return `HTTP ${resp.status}`;
  }
}

/** Trailing-edge debounce. */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** Black or white, whichever reads better on a #rrggbb background (WCAG relative luminance). */
export function textOn(hex) {
  const m = /^#?([0-9a-f]{6})$/i.exec(hex || '');
  if (!m) return '#ffffff';
  const lin = (c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
  const [r, g, b] = [0, 2, 4].map((i) => lin(parseInt(m[1].slice(i, i + 2), 16) / 255));
  const l = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  // Contrast with white (1.05 / (l + .05)) against contrast with black ((l + .05) / .05).
  return 1.05 / (l + 0.05) >= (l + 0.05) / 0.05 ? '#ffffff' : '#111827';
}
