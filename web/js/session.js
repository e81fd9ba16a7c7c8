// Who uses the page. At start GET /api/me says who the browser is; a 401 opens the sign-in
// dialog and the rest of the page waits for it (nothing else is fetched before). A 401 during
// use (session expired or revoked elsewhere) opens the dialog again and, once signed in,
// resumes in place: tiles, list and event stream are asked again, the form being typed is kept,
// and the `identity` event tells the modules that depend on who it is (territory.js).
// The header shows the account and its role with a sign-out button, or the demo identity with
// the operator-name field; `applyRoles` hides what the role does not allow.
// When the server offers OpenID Connect (GET /api/auth/methods, public), the dialog also has a
// SSO button: the server's login route takes the browser to the identity provider, which sends
// it back to the same place with a session, so the page simply starts again signed in.

import { t, setLang, currentLang } from './i18n.js';
import { $, problemMessage } from './dom.js';
import { storage, showMapError, wsUrl } from './app.js';

/**
 * GET /api/me: the identity, or null when not signed in (401).
 * @throws Error on any other answer (the page cannot tell who it is).
 */
export async function fetchMe() {
  const r = await fetch(wsUrl('/api/me'), { cache: 'no-store' });
  if (r.status === 401) return null;
  if (!r.ok) throw new Error(t('me.error', { msg: await problemMessage(r) }));
  return r.json();
}

/**
 * GET /api/auth/methods: `{password, oidc: {login} | null}`, or null when the server does not
 * say (an older server answers 404): then only the password form is offered.
 */
export async function fetchMethods() {
  try {
    const r = await fetch(wsUrl('/api/auth/methods'), { cache: 'no-store' });
    return r.ok ? await r.json() : null;
  } catch {
    return null;
  }
}

/** The SSO login route of `methods` when it is a path of this site, else null. */
function ssoLogin(methods) {
  const login = methods?.oidc?.login;
  return typeof login === 'string' && login.startsWith('/') && !login.startsWith('//') ? login : null;
}

/** The session controller, bound to the page's shared `app`. */
export function createSession(app) {
  const dialog = $('signin');
  const form = $('signin-form');
  const nameInput = $('signin-name');
  const password = $('signin-password');
  const submit = $('signin-submit');
  const cancel = $('signin-cancel');
  const sso = $('signin-sso-button');
  /** Resolves boot's wait for an identity (null once the page has started). */
  let waiting = null;
  /** Why the dialog is up: its reason's i18n key, or null when closed. Only
   * `signin.optional` (the demo identity asked to sign in) may be closed without signing in. */
  let reason = null;
  /** The error shown in the dialog, re-rendered when the language changes. */
  let errorText = () => '';
  /** The sign-in methods, asked once when the dialog first opens. */
  let methods = null;

  const roleName = (role) => t(`role.${role}`);

  function showError(fn) {
    errorText = fn;
    $('signin-error').textContent = fn();
  }

  /** Opens the dialog; `why` is the i18n key of the line under its title. */
  function open(why) {
    reason = why;
    const p = $('signin-reason');
    p.dataset.i18n = why;
    p.textContent = t(why);
    cancel.hidden = why !== 'signin.optional';
    showError(() => '');
    password.value = '';
    submit.disabled = false;
    sso.disabled = false;
    if (!dialog.open) dialog.showModal();
    (nameInput.value ? password : nameInput).focus();
    methods ||= fetchMethods().then(offer);
  }

  /** Shows the SSO button when OpenID Connect is offered (and the password form unless refused). */
  function offer(m) {
    const login = ssoLogin(m);
    $('signin-sso').hidden = !login;
    sso.dataset.login = login || '';
    const passwordOff = m?.password === false && !!login;
    for (const el of [...form.querySelectorAll('.form-row'), submit]) el.hidden = passwordOff;
    if (passwordOff && dialog.open) sso.focus();
    return m;
  }

  const required = () => reason !== null && reason !== 'signin.optional';

  function close() {
    reason = null;
    if (dialog.open) dialog.close();
  }

  // Escape closes a modal dialog (Chrome lets a second Escape through even when the first was
  // refused): when signing in is required, it opens again at once.
  dialog.addEventListener('cancel', (e) => {
    if (required()) e.preventDefault();
  });
  dialog.addEventListener('close', () => {
    if (required()) open(reason);
    else reason = null;
  });
  cancel.addEventListener('click', close);
  // To the provider and back here: the server checks that the return path is one of its own.
  sso.addEventListener('click', () => {
    const login = sso.dataset.login;
    if (!login) return;
    sso.disabled = true;
    showError(() => t('signin.sso.pending'));
    const back = location.pathname + location.search + location.hash;
    location.assign(`${login}${login.includes('?') ? '&' : '?'}return=${encodeURIComponent(back)}`);
  });
  $('signin-lang').addEventListener('click', () => {
    const next = currentLang() === 'fr' ? 'en' : 'fr';
    if (app.view) app.view.switchLang(next);
    else {
      setLang(next);
      storage.set('vigie.lang', next);
    }
    $('signin-error').textContent = errorText();
    render();
  });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = nameInput.value.trim();
    if (!name || !password.value) {
      showError(() => t('signin.missing'));
      (name ? password : nameInput).focus();
      return;
    }
    submit.disabled = true;
    showError(() => t('signin.pending'));
    try {
      const r = await fetch(wsUrl('/api/session'), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ name, password: password.value }),
      });
      if (r.ok) {
        signedIn(await r.json());
        return;
      }
      if (r.status === 429) {
        const s = Number(r.headers.get('Retry-After')) || 1;
        showError(() => t('signin.throttled', { s }));
      } else {
        const msg = await problemMessage(r);
        showError(() => t('signin.failed', { msg }));
      }
      password.value = '';
      password.focus();
    } catch (err) {
      showError(() => t('signin.error', { msg: err.message }));
    } finally {
      submit.disabled = false;
    }
  });

  function signedIn(me) {
    app.me = me;
    password.value = '';
    close();
    render();
    if (waiting) {
      const done = waiting;
      waiting = null;
      done(me);
      return;
    }
    // Signed in again during use: ask the server again for what the page shows.
    applyRoles();
    if (app.map) {
      app.refreshTiles();
      app.reconnectLive();
      app.courante.reload();
      app.popups.refreshOpen();
      app.region.probe();
    }
    // Maybe someone else, or the same account with another role or territory.
    app.emit('identity', me);
  }

  /** The header: account and role with sign-out, or the demo identity with the operator field. */
  function render() {
    const me = app.me;
    const box = $('identity');
    box.hidden = !me;
    $('operator-field').hidden = me?.kind !== 'anonymous';
    if (!me) return;
    const role = roleName(me.role);
    const anonymous = me.kind === 'anonymous';
    $('identity-name').textContent = anonymous ? '' : me.name;
    $('identity-name').hidden = anonymous;
    $('identity-role').textContent = anonymous ? `${t('identity.demo')} · ${role}` : role;
    $('identity-role').title = anonymous
      ? t('identity.demo.title', { role })
      : t('identity.role.title', { name: me.name, role, workspace: me.workspace });
    $('sign-in').hidden = !anonymous;
    $('sign-out').hidden = me.kind !== 'account';
  }

  /** Hides the controls the role does not allow (the server refuses them anyway). */
  function applyRoles() {
    const can = app.me?.can || {};
    const role = app.me ? roleName(app.me.role) : '';
    $('new-entry').hidden = !can.write;
    $('courante-role').textContent = can.write ? '' : t('role.needs.write', { role });
    if (!can.write && !$('form-panel').hidden) app.form?.stop();
    app.catalogEditor?.applyRole();
    app.settings?.applyRole();
    app.reports?.applyRole();
    app.popups?.rerender();
  }

  async function signOut() {
    $('sign-out').disabled = true;
    try {
      const r = await app.apiFetch('/api/session', { method: 'DELETE' });
      if (!r.ok && r.status !== 401) throw new Error(await problemMessage(r));
      // A fresh page: nothing of the signed-out session stays in memory or on screen.
      location.reload();
    } catch (err) {
      $('sign-out').disabled = false;
      showMapError(t('identity.signout.failed', { msg: err.message }));
    }
  }

  /** A request answered 401: the session is gone; ask to sign in again (once). */
  function lost() {
    if (required()) return;
    app.events?.close();
    open('signin.expired');
  }

  $('sign-out').addEventListener('click', signOut);
  $('sign-in').addEventListener('click', () => open('signin.optional'));
  app.on('lang', () => {
    render();
    applyRoles();
  });

  return {
    /**
     * Who the page runs as: GET /api/me, or the sign-in dialog until someone signs in.
     * @throws Error when /api/me answers neither 200 nor 401.
     */
    async start() {
      const me = await fetchMe();
      if (me) {
        app.me = me;
        render();
        return me;
      }
      render();
      return new Promise((resolve) => {
        waiting = resolve;
        open('signin.required');
      });
    },
    lost,
    /** Checks the identity after a failure that hides its status (the event stream). */
    async check() {
      try {
        const me = await fetchMe();
        if (!me) lost();
        return !!me;
      } catch {
        return false;
      }
    },
    /** Whether the dialog is up and must be answered (the page waits for a sign-in). */
    isOpen: required,
    render,
    applyRoles,
  };
}
