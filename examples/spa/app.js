// Latchkey example single-page app: plain JavaScript, no framework, no library.
//
// A public client (no secret: anything shipped to a browser is public) using the authorization
// code flow with PKCE S256 (RFC 7636; RFC 9700 §2.1.1 requires PKCE for public clients).
//  - state, nonce and the PKCE verifier live in sessionStorage only between leaving for the login
//    page and coming back (one tab, gone when it closes); they are removed on return.
//  - tokens live in memory only: a reload signs the app out locally (the provider's own session
//    usually lets the user straight back in). Nothing an injected script could read later stays behind.
//  - on return, `code`, `state` and `iss` are removed from the address bar with
//    history.replaceState before anything else happens, so they are not left in the history,
//    bookmarks or a copied URL (seed 002).
//  - the authorization response is checked: state (RFC 6749 §10.12) and iss (RFC 9207 §2.4).
//  - refresh uses the rotating refresh token (each use returns a new one, RFC 9700 §4.14.2).
//  - sign out revokes the refresh token (RFC 7009; this revokes its grant and access tokens), then
//    ends the provider session with RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).

const PENDING_LOGIN = 'latchkey-spa:pending-login';
const PENDING_LOGOUT = 'latchkey-spa:pending-logout';

const $ = (id) => document.getElementById(id);

let config;     // /config.json from serve.py: issuer, client_id, scope, api, audience
let metadata;   // the provider's discovery document
let tokens = null;  // { access_token, refresh_token, id_token, expires_at, scope }

// ---- small helpers -------------------------------------------------------------------------

function base64url(bytes) {
  let binary = '';
  for (const b of new Uint8Array(bytes)) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomToken(byteCount = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(byteCount)));
}

// RFC 7636 §4.2: code_challenge = BASE64URL(SHA256(ASCII(code_verifier))).
async function s256(verifier) {
  return base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
}

// The payload of a JWT, NOT verified: only for display, and for id_token claims received directly
// from the token endpoint over TLS (OpenID Connect Core §3.1.3.7 step 6).
function jwtPayload(jwt) {
  const part = (jwt.split('.')[1] ?? '').replace(/-/g, '+').replace(/_/g, '/');
  const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

function redirectUri() {
  return config.redirect_uri || (location.origin + location.pathname);
}

function showError(message) {
  $('error').textContent = message;
  $('error').hidden = false;
}

function setStatus(text) {
  $('status').textContent = text;
}

function fillList(dl, entries) {
  dl.replaceChildren();
  for (const [name, value] of entries) {
    if (value === undefined || value === null || value === '') continue;
    const dt = document.createElement('dt');
    dt.textContent = name;
    const dd = document.createElement('dd');
    dd.textContent = Array.isArray(value) ? value.join(', ') : String(value);
    dl.append(dt, dd);
  }
}

// A form POST to one of the provider's endpoints (CORS: the provider answers only for origins
// registered for this client_id; credentials: 'omit' because no cookie belongs in these calls).
async function postForm(url, fields) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields),
    credentials: 'omit',
    cache: 'no-store',
  });
  const text = await res.text();
  let body = {};
  try { body = text ? JSON.parse(text) : {}; } catch { body = { error: 'invalid_response', error_description: text }; }
  return { ok: res.ok, status: res.status, body };
}

function oauthError(what, body) {
  return new Error(`${what}: ${body.error ?? 'error'}${body.error_description ? ' (' + body.error_description + ')' : ''}`);
}

// ---- sign in -------------------------------------------------------------------------------

async function login() {
  const state = randomToken(16);
  const nonce = randomToken(16);
  const verifier = randomToken(32);  // 43 characters, RFC 7636 §4.1
  sessionStorage.setItem(PENDING_LOGIN, JSON.stringify({ state, nonce, verifier, issuer: metadata.issuer }));
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: config.client_id,
    redirect_uri: redirectUri(),
    scope: config.scope,
    state,
    nonce,
    code_challenge: await s256(verifier),
    code_challenge_method: 'S256',
  });
  if (config.audience) params.set('resource', config.audience);  // RFC 8707: the API's audience
  // A top-level navigation, never a fetch: the provider's pages need its cookies and own origin.
  location.assign(`${metadata.authorization_endpoint}?${params}`);
}

// Handles ?code=...&state=...&iss=... (or ?error=...). Returns true when the URL was a response.
async function handleAuthorizationResponse() {
  const params = new URLSearchParams(location.search);
  if (!params.has('code') && !params.has('error')) return false;
  // Seed 002: out of the address bar (and so out of history) before anything can fail.
  history.replaceState(null, document.title, location.pathname);

  const pending = JSON.parse(sessionStorage.getItem(PENDING_LOGIN) ?? 'null');
  sessionStorage.removeItem(PENDING_LOGIN);  // single use, success or not
  if (!pending || params.get('state') !== pending.state) {
    // RFC 6749 §10.12: a response this tab did not ask for (CSRF, or a stale bookmark).
    throw new Error('The sign-in response does not match a sign-in started here (state mismatch). Please sign in again.');
  }
  // RFC 9207 §2.4: the response must come from the issuer the request went to (mix-up defence).
  if (params.get('iss') !== pending.issuer) {
    throw new Error(`The sign-in response names issuer "${params.get('iss')}", expected "${pending.issuer}".`);
  }
  if (params.has('error')) {
    throw new Error(`Sign-in failed: ${params.get('error')}${params.get('error_description') ? ' (' + params.get('error_description') + ')' : ''}`);
  }

  const res = await postForm(metadata.token_endpoint, {
    grant_type: 'authorization_code',
    code: params.get('code'),
    redirect_uri: redirectUri(),
    client_id: config.client_id,
    code_verifier: pending.verifier,
  });
  if (!res.ok) throw oauthError('The code exchange failed', res.body);
  if (res.body.id_token) checkIdToken(res.body.id_token, pending.nonce);
  keepTokens(res.body);
  return true;
}

// OpenID Connect Core §3.1.3.7: iss, aud, exp and the nonce of this sign-in.
function checkIdToken(idToken, nonce) {
  const claims = jwtPayload(idToken);
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (claims.iss !== metadata.issuer) throw new Error('The ID token comes from another issuer.');
  if (!audiences.includes(config.client_id)) throw new Error('The ID token is not meant for this app.');
  if (typeof claims.exp !== 'number' || claims.exp * 1000 < Date.now()) throw new Error('The ID token has expired.');
  if (claims.nonce !== nonce) throw new Error('The ID token does not carry this sign-in\'s nonce.');
}

function keepTokens(body) {
  tokens = {
    access_token: body.access_token,
    // A refresh answer may omit values that stay the same (RFC 6749 §6); keep the previous ones.
    refresh_token: body.refresh_token ?? tokens?.refresh_token,
    id_token: body.id_token ?? tokens?.id_token,
    scope: body.scope ?? tokens?.scope,
    expires_at: Date.now() + (body.expires_in ?? 0) * 1000,
  };
}

// ---- signed in -----------------------------------------------------------------------------

async function showUser() {
  const res = await fetch(metadata.userinfo_endpoint, {
    headers: { Authorization: `Bearer ${tokens.access_token}` },
    credentials: 'omit',
    cache: 'no-store',
  });
  if (!res.ok) throw new Error(`userinfo answered ${res.status}: ${res.headers.get('WWW-Authenticate') ?? ''}`);
  const user = await res.json();
  $('username').textContent = user.preferred_username ?? user.sub;
  fillList($('user'), [['name', user.name], ['email', user.email], ['sub', user.sub], ['roles', user.roles],
    ['groups', user.groups]]);
}

function showToken() {
  const claims = jwtPayload(tokens.access_token);
  fillList($('token'), [
    ['scope', claims.scope], ['audience', claims.aud], ['roles', claims.roles], ['groups', claims.groups],
    ['expires', new Date(claims.exp * 1000).toLocaleTimeString()], ['jti', claims.jti],
    ['refresh token', tokens.refresh_token ? 'yes (rotates on every use)' : 'none (ask for offline_access)'],
  ]);
}

// Calls the protected API (examples/protected-api) with the access token; without one configured,
// userinfo stands in so the page still shows an answer made for this token.
async function callApi() {
  const targets = config.api
    ? [`${config.api}/api/me`, `${config.api}/api/admin`]
    : [metadata.userinfo_endpoint];
  $('api-target').textContent = config.api ? `GET ${targets.join(' and ')}` : `GET ${targets[0]} (no API configured)`;
  const lines = [];
  for (const url of targets) {
    const res = await fetch(url, {
      headers: { Authorization: `Bearer ${tokens.access_token}` },
      credentials: 'omit',
      cache: 'no-store',
    });
    let text = (await res.text()).trim();
    try { text = JSON.stringify(JSON.parse(text), null, 2); } catch { /* not JSON: show as is */ }
    lines.push(`GET ${new URL(url).pathname} -> ${res.status}`);
    const challenge = res.headers.get('WWW-Authenticate');
    if (challenge) lines.push(`WWW-Authenticate: ${challenge}`);
    lines.push(text, '');
  }
  $('api').textContent = lines.join('\n');
}

async function refresh() {
  if (!tokens?.refresh_token) throw new Error('No refresh token: ask for scope offline_access.');
  const res = await postForm(metadata.token_endpoint, {
    grant_type: 'refresh_token',
    refresh_token: tokens.refresh_token,
    client_id: config.client_id,
  });
  if (!res.ok) {
    tokens = null;  // a reused or revoked refresh token ends the whole grant: sign in again
    render();
    throw oauthError('The refresh failed; please sign in again', res.body);
  }
  keepTokens(res.body);
  showToken();
  setStatus(`Tokens refreshed at ${new Date().toLocaleTimeString()}.`);
}

async function logout() {
  const idToken = tokens?.id_token;
  if (tokens?.refresh_token) {
    // RFC 7009: revoking the refresh token revokes its grant, so the access token stops working too
    // wherever it is checked by introspection. A failure here must not keep the user signed in.
    const res = await postForm(metadata.revocation_endpoint, {
      token: tokens.refresh_token,
      token_type_hint: 'refresh_token',
      client_id: config.client_id,
    }).catch((e) => ({ ok: false, body: { error: String(e) } }));
    if (!res.ok) console.warn('revocation failed', res.body);
  }
  tokens = null;
  if (!metadata.end_session_endpoint) {
    render();
    return;
  }
  const state = randomToken(16);
  sessionStorage.setItem(PENDING_LOGOUT, state);
  const params = new URLSearchParams({
    client_id: config.client_id,
    post_logout_redirect_uri: redirectUri(),
    state,
  });
  if (idToken) params.set('id_token_hint', idToken);
  location.assign(`${metadata.end_session_endpoint}?${params}`);
}

// Back from the provider's logout with ?state=...
function handleLogoutReturn() {
  const params = new URLSearchParams(location.search);
  const expected = sessionStorage.getItem(PENDING_LOGOUT);
  if (!params.has('state') || params.has('code') || expected === null) return false;
  history.replaceState(null, document.title, location.pathname);
  sessionStorage.removeItem(PENDING_LOGOUT);
  if (params.get('state') !== expected) throw new Error('The sign-out response does not match a sign-out started here.');
  setStatus('You are signed out, here and at the provider.');
  return true;
}

// ---- wiring --------------------------------------------------------------------------------

function render() {
  $('signed-in').hidden = !tokens;
  $('signed-out').hidden = !!tokens;
  if (!tokens && !$('status').textContent.startsWith('You are signed out')) setStatus('Not signed in.');
}

// Runs a button's action with the buttons disabled, and shows what went wrong.
function action(fn) {
  return async () => {
    $('error').hidden = true;
    for (const b of document.querySelectorAll('button')) b.disabled = true;
    try {
      await fn();
    } catch (e) {
      showError(e.message);
    } finally {
      for (const b of document.querySelectorAll('button')) b.disabled = false;
    }
  };
}

async function start() {
  config = await (await fetch('config.json', { cache: 'no-store' })).json();
  const res = await fetch(`${config.issuer}/.well-known/openid-configuration`, { credentials: 'omit' });
  if (!res.ok) throw new Error(`discovery at ${config.issuer} answered ${res.status}`);
  metadata = await res.json();
  if (metadata.issuer !== config.issuer) throw new Error(`discovery names issuer ${metadata.issuer}, not ${config.issuer}`);

  $('login').addEventListener('click', action(login));
  $('refresh').addEventListener('click', action(refresh));
  $('call-api').addEventListener('click', action(callApi));
  $('logout').addEventListener('click', action(logout));

  handleLogoutReturn();
  if (await handleAuthorizationResponse()) {
    render();
    showToken();
    await showUser();
    await callApi();
    setStatus('Signed in.');
    return;
  }
  render();
}

start().catch((e) => {
  render();
  showError(e.message);
});
