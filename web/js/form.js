// New entry: place it by clicking the map (or at the map centre, from the keyboard), fill
// the form, POST /api/entries, then POST each photo as an attachment. The server is the
// validator: its 422 `errors` are shown next to the fields they name.

import { t, title, translate } from './i18n.js';
import { h, $, replace, problemMessage, safeHttpUrl } from './dom.js';

/** Largest photo the server accepts, bytes. */
const MAX_PHOTO_BYTES = 10 * 1024 * 1024;

/** The form's field for a server error's `field` (`tags[2]` → tags, `lon` → position). */
function fieldKey(field) {
  const f = String(field || '');
  if (f.startsWith('geometry') || f === 'lon' || f === 'lat') return 'position';
  if (f.startsWith('tags')) return 'tags';
  if (f.startsWith('links')) return 'links';
  if (f === 'reported_at') return 'occurred_at';
  if (['title', 'severity', 'occurred_at', 'location', 'source', 'body', 'photos'].includes(f)) return f;
  return 'general';
}

function localNow() {
  const d = new Date();
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The form controller, bound to the page's shared `app`. */
export function createEntryForm(app) {
  const panel = $('form-panel');
  const form = $('entry-form');
  let position = null; // [lon, lat]

  const err = (key) => h('p', { class: 'field-error', id: `f-${key}-error`, 'data-field': key, 'aria-live': 'polite' });
  const described = (key) => ({ 'aria-describedby': `f-${key}-error` });

  function build() {
    replace(
      form,
      h(
        'div',
        { class: 'form-row' },
        h('span', { class: 'form-label', 'data-i18n': 'form.position' }),
        h(
          'div',
          { class: 'position' },
          h('output', { id: 'f-position' }),
          h('button', { type: 'button', class: 'button-quiet small', id: 'f-place', 'data-i18n': 'form.position.map', onclick: () => place() }),
          h('button', { type: 'button', class: 'button-quiet small', id: 'f-center', 'data-i18n': 'form.position.center', onclick: () => setPosition(app.map.getCenter().toArray()) }),
        ),
        err('position'),
      ),
      h('div', { class: 'form-row' }, h('label', { for: 'f-title', 'data-i18n': 'form.field.title' }), h('input', { type: 'text', id: 'f-title', name: 'title', ...described('title') }), err('title')),
      h(
        'div',
        { class: 'form-row' },
        h(
          'fieldset',
          { id: 'f-themes', ...described('tags') },
          h('legend', { class: 'form-label', 'data-i18n': 'form.field.themes' }),
          h(
            'div',
            { class: 'checks' },
            app.entryThemes().map((th) =>
              h(
                'label',
                {},
                h('input', { type: 'checkbox', name: 'theme', value: th.id }),
                h('span', { class: 'swatch', style: { '--swatch': th.color }, 'aria-hidden': 'true' }),
                h('span', { 'data-theme-title': th.id }, title(th)),
              ),
            ),
          ),
        ),
        h('label', { for: 'f-tags', 'data-i18n': 'form.field.tags' }),
        h('input', { type: 'text', id: 'f-tags', name: 'tags', ...described('tags') }),
        err('tags'),
      ),
      h(
        'div',
        { class: 'form-row' },
        h('label', { for: 'f-severity', 'data-i18n': 'form.field.severity' }),
        h('select', { id: 'f-severity', name: 'severity', ...described('severity') }, [0, 1, 2, 3, 4].map((s) => h('option', { value: String(s), 'data-i18n': `severity.${s}` }))),
        err('severity'),
      ),
      h('div', { class: 'form-row' }, h('label', { for: 'f-occurred_at', 'data-i18n': 'form.field.occurred_at' }), h('input', { type: 'datetime-local', id: 'f-occurred_at', step: '60', ...described('occurred_at') }), err('occurred_at')),
      h('div', { class: 'form-row' }, h('label', { for: 'f-location', 'data-i18n': 'form.field.location' }), h('input', { type: 'text', id: 'f-location', ...described('location') }), err('location')),
      h('div', { class: 'form-row' }, h('label', { for: 'f-source', 'data-i18n': 'form.field.source' }), h('input', { type: 'text', id: 'f-source', ...described('source') }), err('source')),
      h('div', { class: 'form-row' }, h('label', { for: 'f-body', 'data-i18n': 'form.field.body' }), h('textarea', { id: 'f-body', rows: '4', ...described('body') }), err('body')),
      h('div', { class: 'form-row' }, h('label', { for: 'f-links', 'data-i18n': 'form.field.links' }), h('textarea', { id: 'f-links', rows: '2', placeholder: 'https://…', ...described('links') }), err('links')),
      h(
        'div',
        { class: 'form-row' },
        h('label', { for: 'f-photos', 'data-i18n': 'form.field.photos' }),
        h('input', { type: 'file', id: 'f-photos', multiple: true, accept: 'image/jpeg,image/png,image/webp', ...described('photos') }),
        err('photos'),
      ),
      h(
        'div',
        { class: 'form-actions' },
        h('button', { type: 'submit', class: 'button', id: 'f-submit', 'data-i18n': 'form.submit' }),
        h('button', { type: 'button', class: 'button-quiet', id: 'f-cancel', 'data-i18n': 'form.cancel', onclick: () => stop() }),
      ),
      h('p', { class: 'form-status', id: 'f-status', role: 'status' }),
      err('general'),
    );
    translate(form);
    renderPosition();
  }

  function renderPosition() {
    const out = $('f-position');
    if (out) out.textContent = position ? `${position[1].toFixed(5)}, ${position[0].toFixed(5)}` : t('form.position.none');
  }

  function setPosition(lonLat) {
    position = lonLat;
    app.overlay.set('placement', [{ type: 'Point', coordinates: lonLat }]);
    renderPosition();
  }

  const placeTool = {
    name: 'place',
    hint: () => t('form.place'),
    onClick(e) {
      setPosition(e.lngLat.toArray());
      app.setTool(null);
      $('f-title')?.focus();
    },
  };

  function place() {
    app.setTool(placeTool);
  }

  function clearErrors() {
    for (const p of form.querySelectorAll('.field-error')) p.textContent = '';
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  }

  function showErrors(errors) {
    clearErrors();
    const byKey = new Map();
    for (const e of errors) {
      const key = fieldKey(e.field);
      const text = e.field === 'author' ? t('form.operator') : `${e.reason}${e.value ? ` (${e.value})` : ''}`;
      byKey.set(key, [...(byKey.get(key) || []), text]);
    }
    for (const [key, texts] of byKey) {
      const p = $(`f-${key}-error`);
      if (p) p.textContent = texts.join(' ; ');
      const input = key === 'tags' ? $('f-tags') : key === 'position' ? null : $(`f-${key}`);
      input?.setAttribute('aria-invalid', 'true');
    }
    const first = form.querySelector('[aria-invalid="true"]');
    first?.focus();
  }

  function status(text, kind) {
    const p = $('f-status');
    p.textContent = text || '';
    p.className = `form-status${kind ? ` ${kind}` : ''}`;
  }

  function payload() {
    const tags = [...form.querySelectorAll('input[name="theme"]:checked')].map((i) => i.value);
    for (const tag of $('f-tags').value.split(',').map((s) => s.trim()).filter(Boolean)) if (!tags.includes(tag)) tags.push(tag);
    const body = { title: $('f-title').value, severity: Number($('f-severity').value), tags };
    const text = $('f-body').value;
    if (text.trim()) body.body = text;
    for (const k of ['location', 'source']) if ($(`f-${k}`).value.trim()) body[k] = $(`f-${k}`).value.trim();
    const occurred = $('f-occurred_at').value;
    if (occurred) body.occurred_at = new Date(occurred).toISOString();
    const links = $('f-links')
      .value.split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .map((l) => {
        const [url, ...rest] = l.split(/\s+/);
        return { url, title: rest.join(' ') };
      });
    if (links.length) body.links = links;
    if (position) {
      body.lon = position[0];
      body.lat = position[1];
    }
    return body;
  }

  async function submit(e) {
    e.preventDefault();
    clearErrors();
    const files = [...$('f-photos').files];
    const tooBig = files.filter((f) => f.size > MAX_PHOTO_BYTES);
    if (tooBig.length) {
      showErrors(tooBig.map((f) => ({ field: 'photos', reason: t('form.photo.tooBig', { name: f.name }) })));
      return;
    }
    // Links the page would refuse to render are refused here too (the server checks again).
    const bad = (payload().links || []).filter((l) => !safeHttpUrl(l.url));
    if (bad.length) {
      showErrors(bad.map((l) => ({ field: 'links', value: l.url, reason: 'http(s) only' })));
      return;
    }
    // The demo identity signs its entries with the operator's name: without one the server
    // would file them as "anonymous", so the form asks for it before sending anything (with
    // an empty title too, so that both show at once).
    if (app.me?.kind === 'anonymous' && !app.operator()) {
      const missing = [{ field: 'author' }];
      if (!$('f-title').value.trim()) missing.push({ field: 'title', reason: t('form.required') });
      showErrors(missing);
      status(t('form.invalid'), 'err');
      return;
    }
    $('f-submit').disabled = true;
    status(t('form.saving'));
    try {
      const r = await app.apiFetch('/api/entries', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(payload()) });
      if (r.status === 422) {
        const problem = await r.json().catch(() => ({}));
        showErrors(problem.errors || [{ field: 'general', reason: problem.detail || 'HTTP 422' }]);
        status(t('form.invalid'), 'err');
        return;
      }
      if (!r.ok) {
        status(t('form.error', { msg: await problemMessage(r) }), 'err');
        return;
      }
      const entry = await r.json();
      const photoErrors = [];
      for (const [i, f] of files.entries()) {
        status(t('form.uploading', { i: i + 1, n: files.length }));
        const a = await app.apiFetch(`/api/entries/${entry.id}/attachments?filename=${encodeURIComponent(f.name)}`, {
          method: 'POST',
          headers: { 'Content-Type': f.type || 'application/octet-stream' },
          body: f,
        });
        if (!a.ok) photoErrors.push(t('form.photo.failed', { name: f.name, msg: await problemMessage(a) }));
      }
      stop();
      $('courante-status').textContent = [t('form.saved', { id: entry.id }), ...photoErrors].join(' ');
      app.openEntry(entry.id, entry.geometry);
    } catch (err) {
      status(t('form.error', { msg: err.message }), 'err');
    } finally {
      const b = $('f-submit');
      if (b) b.disabled = false;
    }
  }

  function start() {
    build();
    panel.hidden = false;
    panel.scrollIntoView({ block: 'start' });
    $('f-occurred_at').value = localNow();
    $('f-severity').value = '1';
    position = null;
    renderPosition();
    place();
  }

  function stop() {
    if (app.tool === placeTool) app.setTool(null);
    panel.hidden = true;
    position = null;
    app.overlay.set('placement', null);
    $('new-entry').focus();
  }

  form.addEventListener('submit', submit);
  $('new-entry').addEventListener('click', start);
  app.on('lang', () => {
    if (panel.hidden) return;
    translate(form);
    for (const s of form.querySelectorAll('[data-theme-title]')) s.textContent = title(app.themeOf(s.dataset.themeTitle));
    renderPosition();
  });
  return { start, stop };
}
