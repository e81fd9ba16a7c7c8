#!/usr/bin/env node
// A real OpenID Connect provider for the tests: panva's `oidc-provider` (OpenID certified), so
// vigie's sign-in and bearer tokens are checked against an implementation someone else wrote.
//
//   node tests/oidc/provider.mjs --port 9000 --redirect http://127.0.0.1:8080/auth/oidc/callback
//
// When it listens it prints one line of JSON on stdout, and nothing else ever goes there:
//   {"issuer":"http://127.0.0.1:9000","client_id":"vigie","client_secret":"…","audience":"urn:vigie:api"}
// Everything else (oidc-provider's notices included) goes to stderr. It exits on SIGTERM or
// SIGINT, and when its stdin closes if stdin is a pipe (a parent that dies closes it).
//
// What it serves:
//   - issuer `http://127.0.0.1:PORT`; one confidential client `vigie` (client_secret_post and
//     client_secret_basic), grants authorization_code (PKCE S256 required) and
//     client_credentials, redirect URI the --redirect value;
//   - accounts: whatever login name is typed on the development login page (any password) is
//     the subject, with preferred_username = login, name "Test login", email login@example.test;
//     no consent page for `vigie` (the grant is made on first use);
//   - ID tokens RS256 with kid `test-rs-1`, carrying the profile and email claims (vigie reads
//     them from the ID token, not from userinfo);
//   - access tokens as JWT (RFC 9068, RS256) for the resource `urn:vigie:api`, whose `aud` is
//     that same value: a resource indicator must be an absolute URI (RFC 8707), and the
//     audience equals it so that `resource=<audience>` is always right. A client_credentials
//     grant without `resource` gets that resource too. Scopes of the resource: vigie:read
//     vigie:write.
// Test-only endpoints, outside the provider's routes:
//   POST /test/sign            {"header": {…}, "claims": {…}} → a JWT signed RS256 with the
//                              provider's signing key (header alg RS256, typ JWT, kid of that
//                              key, then the given fields). A `kid` naming another key of this
//                              provider signs with that key (`test-rs-2` works before it is
//                              published); `alg: none` gives an empty signature.
//   POST /test/sign-hmac       {"claims": {…}} → HS256 "signed" with the public key in PEM form,
//                              header kid test-rs-1 (the algorithm-confusion attack).
//   POST /test/sign-unknown-key {"claims": {…}} → RS256 with a key the provider never published,
//                              kid `unknown-1`.
//   POST /test/rotate          → key `test-rs-2` becomes the signing key, published first in the
//                              JWKS, `test-rs-1` stays published after it; 204. The provider
//                              instance is rebuilt (same issuer, client, cookie keys and store).

import { createServer } from 'node:http';
import { createHash, createHmac, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { fstatSync } from 'node:fs';

const CLIENT_ID = 'vigie';
const RESOURCE = 'urn:vigie:api';
const AUDIENCE = RESOURCE;
const RESOURCE_SCOPES = 'vigie:read vigie:write';
const OIDC_SCOPES = 'openid profile email';
const MAX_BODY_BYTES = 64 * 1024;

function usage(msg) {
  console.error(`provider.mjs: ${msg}\nusage: node tests/oidc/provider.mjs --port PORT --redirect http://127.0.0.1:VIGIEPORT/auth/oidc/callback`);
  process.exit(2);
}

function args(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    if (a !== '--port' && a !== '--redirect') usage(`unknown argument ${a}`);
    if (i + 1 >= argv.length) usage(`${a} needs a value`);
    out[a.slice(2)] = argv[(i += 1)];
  }
  const port = Number(out.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) usage('--port must be a port number');
  if (!out.redirect || !URL.parse(out.redirect)) usage('--redirect must be an absolute URL');
  return { port, redirect: out.redirect };
}

const { port, redirect } = args(process.argv.slice(2));

// oidc-provider prints its notices with console.info, on stdout: stdout carries one JSON line.
console.info = console.error;
console.log = console.error;
const { Provider, errors } = await import('oidc-provider');

const issuer = `http://127.0.0.1:${port}`;
const clientSecret = randomBytes(32).toString('base64url');
const cookieKey = randomBytes(32).toString('base64url');

/** An RSA 2048 signing key: the private JWK (for the provider), the KeyObjects, the kid. */
function rsaKey(kid) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid, privateKey, publicKey, jwk: { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' } };
}

const keys = { 'test-rs-1': rsaKey('test-rs-1'), 'test-rs-2': rsaKey('test-rs-2') };
const unknownKey = rsaKey('unknown-1');
/** kids in the published JWKS, the signing key first. */
let published = ['test-rs-1'];

/**
 * The provider's storage, kept outside any one Provider instance so that a rebuilt instance
 * (key rotation) keeps the sessions, grants and codes under way. Expired entries are dropped
 * when read.
 */
const store = new Map();
class SharedAdapter {
  constructor(model) {
    this.model = model;
  }

  static key(model, id) {
    return `${model}:${id}`;
  }

  static read(key) {
    const e = store.get(key);
    if (!e) return undefined;
    if (e.expires_ms && e.expires_ms < Date.now()) {
      store.delete(key);
      return undefined;
    }
    return e.value;
  }

  async upsert(id, payload, expiresIn) {
    const expires_ms = expiresIn ? Date.now() + expiresIn * 1000 : 0;
    store.set(SharedAdapter.key(this.model, id), { value: payload, expires_ms });
    if (this.model === 'Session') store.set(SharedAdapter.key('sessionUid', payload.uid), { value: id, expires_ms });
    if (payload.userCode) store.set(SharedAdapter.key('userCode', payload.userCode), { value: id, expires_ms });
  }

  async find(id) {
    return SharedAdapter.read(SharedAdapter.key(this.model, id));
  }

  async findByUid(uid) {
    const id = SharedAdapter.read(SharedAdapter.key('sessionUid', uid));
    return id && this.find(id);
  }

  async findByUserCode(userCode) {
    const id = SharedAdapter.read(SharedAdapter.key('userCode', userCode));
    return id && this.find(id);
  }

  async consume(id) {
    const v = SharedAdapter.read(SharedAdapter.key(this.model, id));
    if (v) v.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    store.delete(SharedAdapter.key(this.model, id));
  }

  async revokeByGrantId(grantId) {
    for (const [k, e] of store) if (e.value?.grantId === grantId) store.delete(k);
  }
}

/** Claims of the account whose login name is `sub`. */
function claimsOf(sub) {
  return { sub, preferred_username: sub, name: `Test ${sub}`, email: `${sub}@example.test` };
}

function configuration() {
  return {
    adapter: SharedAdapter,
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: clientSecret,
        redirect_uris: [redirect],
        grant_types: ['authorization_code', 'client_credentials'],
        response_types: ['code'],
        // client_secret_basic is accepted too: oidc-provider takes either for a secret client.
        token_endpoint_auth_method: 'client_secret_post',
      },
    ],
    jwks: { keys: published.map((kid) => keys[kid].jwk) },
    cookies: { keys: [cookieKey] },
    claims: { openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email'] },
    // The profile and email claims go in the ID token: vigie does not call userinfo.
    conformIdTokenClaims: false,
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => claimsOf(sub) }),
    pkce: { required: () => true },
    // Lifetimes, seconds (stating them also silences oidc-provider's notices about defaults).
    ttl: { AccessToken: 3600, AuthorizationCode: 60, ClientCredentials: 600, Grant: 86400, IdToken: 3600, Interaction: 3600, Session: 86400 },
    // No consent page for vigie: its grant (OIDC scopes and the API's scopes) is made and
    // saved on first use, the way the documentation says to skip consent for a first party.
    loadExistingGrant: async (ctx) => {
      const { oidc } = ctx;
      const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
      if (grantId) {
        const grant = await oidc.provider.Grant.find(grantId);
        if (grant) return grant;
      }
      if (oidc.client.clientId !== CLIENT_ID || !oidc.session.accountId) return undefined;
      const grant = new oidc.provider.Grant({ clientId: CLIENT_ID, accountId: oidc.session.accountId });
      grant.addOIDCScope(OIDC_SCOPES);
      grant.addResourceScope(RESOURCE, RESOURCE_SCOPES);
      await grant.save();
      return grant;
    },
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) => oneOf ?? RESOURCE,
        // The authorization code's access token is for the API too (not for userinfo).
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, indicator) => {
          if (indicator !== RESOURCE) throw new errors.InvalidTarget(`unknown resource ${indicator}; this provider knows ${RESOURCE}`);
          return { scope: RESOURCE_SCOPES, audience: AUDIENCE, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
        },
      },
    },
  };
}

/** The request handler of a fresh Provider with the keys published now. */
function buildProvider() {
  const provider = new Provider(issuer, configuration());
  provider.on('server_error', (_ctx, err) => console.error('provider server_error:', err));
  return provider.callback();
}

let handle = buildProvider();

// ---------------------------------------------------------------- test-only endpoints

const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

function jwt(header, claims, signer) {
  const input = `${b64url(header)}.${b64url(claims)}`;
  return `${input}.${signer(Buffer.from(input))}`;
}

const rs256 = (privateKey) => (data) => sign('sha256', data, privateKey).toString('base64url');

function readJson(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error(`body over ${MAX_BODY_BYTES} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      try {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve(text ? JSON.parse(text) : {});
      } catch (e) {
        reject(new Error(`the body is not JSON: ${e.message}`));
      }
    });
    req.on('error', reject);
  });
}

const testRoutes = {
  async '/test/sign'(body) {
    const signing = keys[published[0]];
    const header = { alg: 'RS256', typ: 'JWT', kid: signing.kid, ...(body.header || {}) };
    const key = keys[header.kid] || signing;
    return jwt(header, body.claims || {}, header.alg === 'none' ? () => '' : rs256(key.privateKey));
  },
  async '/test/sign-hmac'(body) {
    const pem = keys['test-rs-1'].publicKey.export({ type: 'spki', format: 'pem' });
    return jwt({ alg: 'HS256', typ: 'JWT', kid: 'test-rs-1' }, body.claims || {}, (data) => createHmac('sha256', pem).update(data).digest('base64url'));
  },
  async '/test/sign-unknown-key'(body) {
    return jwt({ alg: 'RS256', typ: 'JWT', kid: unknownKey.kid }, body.claims || {}, rs256(unknownKey.privateKey));
  },
  async '/test/rotate'() {
    if (published[0] !== 'test-rs-2') {
      published = ['test-rs-2', 'test-rs-1'];
      handle = buildProvider();
      console.error(`provider.mjs: rotated, signing with test-rs-2 (published: ${published.join(', ')})`);
    }
    return null;
  },
};

async function test(req, res, path) {
  const route = testRoutes[path];
  if (!route) {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end(`no test endpoint ${path}\n`);
    return;
  }
  if (req.method !== 'POST') {
    res.writeHead(405, { Allow: 'POST', 'Content-Type': 'text/plain' }).end(`${path} takes POST\n`);
    return;
  }
  try {
    const out = await route(await readJson(req));
    if (out === null) res.writeHead(204).end();
    else res.writeHead(200, { 'Content-Type': 'text/plain' }).end(out);
  } catch (e) {
    res.writeHead(400, { 'Content-Type': 'text/plain' }).end(`${e.message}\n`);
  }
}

// ---------------------------------------------------------------- server and lifetime

const server = createServer((req, res) => {
  const path = new URL(req.url, issuer).pathname;
  if (path.startsWith('/test/')) test(req, res, path);
  else handle(req, res);
});

server.on('error', (e) => {
  console.error(`provider.mjs: cannot listen on 127.0.0.1:${port}: ${e.message}`);
  process.exit(1);
});

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ issuer, client_id: CLIENT_ID, client_secret: clientSecret, audience: AUDIENCE })}\n`);
  const fingerprint = createHash('sha256').update(keys['test-rs-1'].jwk.n).digest('hex').slice(0, 12);
  console.error(`provider.mjs: ${issuer} ready, client ${CLIENT_ID}, redirect ${redirect}, key test-rs-1 (${fingerprint})`);
});

function stop(why) {
  console.error(`provider.mjs: stopping (${why})`);
  process.exit(0);
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
// A parent that holds our stdin as a pipe and dies closes it. Stdin that is /dev/null or a
// terminal says nothing about the parent: then only the signals stop us.
const stdin = fstatSync(0);
if (stdin.isFIFO() || stdin.isSocket()) {
  process.stdin.on('end', () => stop('stdin closed'));
  process.stdin.on('close', () => stop('stdin closed'));
  process.stdin.resume();
}
