// The example SPA (examples/spa) end to end: headless Chromium (Debian's, via playwright-core) opens
// the page served by examples/spa/serve.py, signs in through latchkey-server's real login and
// consent pages, comes back to the SPA (which exchanges the code with PKCE across origins, so CORS
// must let it), shows the user and the example protected API's answers, refreshes with the rotating
// refresh token and signs out. Also: CORS from other origins, and roles only for the allowed client.
// A screenshot of the SPA after sign-in is kept in tests/e2e/artifacts/spa-signed-in.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Server, Browserless, completeInteraction, freePorts, pkcePair, b64url } from '../e2e/harness.mjs';

const require = createRequire(new URL('../e2e/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const artifacts = path.join(root, 'tests', 'e2e', 'artifacts');
const CHROMIUM = process.env.LATCHKEY_CHROMIUM || '/usr/bin/chromium';
const PYTHON = process.env.LATCHKEY_SPA_PYTHON || '/usr/bin/python3';
const AUDIENCE = 'https://api.spa.test';
const START_TIMEOUT_MS = 20_000;

let server;
let browser;
let spaOrigin;
let apiUrl;
let passed = 0;
const daemons = [];
const daemonLogs = [];

// The provider as tests/e2e/harness.mjs starts it, plus the SPA's client, a client that was not
// allowed roles, and roles/groups for the harness user.
class SpaServer extends Server {
  provision() {
    super.provision();
    this.admin(['client', 'create', '--database', this.db, '--client-id', 'latchkey-spa', '--public',
      '--redirect-uri', `${spaOrigin}/`, '--web-origin', spaOrigin, '--allow-claim', 'roles', '--allow-claim', 'groups',
      '--audience', AUDIENCE, '--scope', 'openid profile email offline_access', '--name', 'Example SPA']);
    this.admin(['client', 'create', '--database', this.db, '--client-id', 'no-roles-app', '--public',
      '--redirect-uri', 'http://127.0.0.1/callback', '--audience', AUDIENCE, '--scope', 'openid profile']);
    this.admin(['user', 'role', 'add', '--database', this.db, '--username', this.user.username, '--role', 'admin']);
    this.admin(['user', 'group', 'add', '--database', this.db, '--username', this.user.username, '--group', 'engineering']);
  }
}

// Starts a child that prints `ready` on stdout when it listens; bounded.
function startDaemon(name, bin, args) {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  daemons.push(child);
  const log = [];
  daemonLogs.push([name, log]);
  child.stderr.on('data', (d) => log.push(String(d)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start in time:\n${log.join('')}`)), START_TIMEOUT_MS);
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      log.push(line + '\n');
      if (line.includes('listening on')) { clearTimeout(timer); resolve(child); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${name} exited (${code}):\n${log.join('')}`)); });
  });
}

before(async () => {
  const [spaPort, apiPort] = await freePorts(2);
  spaOrigin = `http://127.0.0.1:${spaPort}`;
  apiUrl = `http://127.0.0.1:${apiPort}`;
  server = new SpaServer();
  await server.start();
  const apiBin = process.env.LATCHKEY_API_BIN;
  if (!apiBin) throw new Error('set LATCHKEY_API_BIN to the built examples/protected-api binary');
  await startDaemon('protected-api', apiBin, ['--issuer', server.issuer, '--audience', AUDIENCE,
    '--listen', `127.0.0.1:${apiPort}`, '--cors-origin', spaOrigin]);
  await startDaemon('spa', PYTHON, [path.join(root, 'examples', 'spa', 'serve.py'), '--issuer', server.issuer,
    '--listen', `127.0.0.1:${spaPort}`, '--client-id', 'latchkey-spa', '--api', apiUrl, '--audience', AUDIENCE]);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout: 60_000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
  });
});

after(async () => {
  await browser?.close().catch(() => {});
  for (const d of daemons) d.kill('SIGTERM');
  if (server) {
    const code = await server.stop();
    if (code !== 0 || passed < 5) {
      process.stderr.write(`\n==== server logs ====\n${server.logs()}\n`);
      for (const [name, log] of daemonLogs) process.stderr.write(`==== ${name} ====\n${log.join('')}\n`);
    }
    await server.cleanup();
    assert.equal(code, 0, 'latchkey-server exits 0 on SIGTERM');
  }
});

const tokenEndpoint = () => `${server.issuer}/token`;

// What the SPA received from the token endpoint, as the browser saw it.
function recordTokenResponses(page) {
  const seen = [];
  page.on('response', async (r) => {
    if (r.url() === tokenEndpoint() && r.request().method() === 'POST') {
      seen.push({ status: r.status(), headers: r.headers(), body: await r.json().catch(() => ({})) });
    }
  });
  return seen;
}

const claimsOf = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));

async function signIn(page) {
  await page.goto(`${spaOrigin}/`);
  await page.locator('#login').click();
  await page.waitForSelector('input[name="password"]');
  assert.equal(new URL(page.url()).origin, server.issuer, 'the login page is the provider\'s, not the SPA\'s');
  await page.fill('input[name="username"]', server.user.username);
  await page.fill('input[name="password"]', server.user.password);
  await Promise.all([
    page.waitForSelector('[name="decision"][value="allow"]'),
    page.locator('form[method="post" i] [type="submit"], form[method="post" i] button:not([type])').first().click(),
  ]);
  await page.locator('[name="decision"][value="allow"]').click();
  await page.waitForURL((u) => u.origin === spaOrigin);
  await page.waitForFunction(() => document.getElementById('status').textContent === 'Signed in.'
    || !document.getElementById('error').hidden);
  const error = await page.locator('#error').textContent();
  assert.equal(await page.locator('#error').isHidden(), true, `the SPA shows an error: ${error}`);
}

let page;
let tokenResponses;
let consoleErrors;

test('sign in: login, consent, back in the SPA with the user and the API answer; the URL is clean', { timeout: 120_000 }, async () => {
  mkdirSync(artifacts, { recursive: true });
  const shot = path.join(artifacts, 'spa-signed-in.png');
  rmSync(shot, { force: true });
  const context = await browser.newContext({ viewport: { width: 900, height: 1000 } });
  page = await context.newPage();
  page.setDefaultTimeout(20_000);
  consoleErrors = [];
  // Every console error counts (a CORS refusal shows up here), except a browser's favicon probe.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.location().url?.endsWith('/favicon.ico')) consoleErrors.push(`${m.text()} ${m.location().url}`);
  });
  tokenResponses = recordTokenResponses(page);

  await signIn(page);

  // Seed 002: code, state and iss are gone from the address bar (and from the history entry).
  const url = new URL(page.url());
  assert.equal(url.search, '', `the address bar still holds ${url.search}`);
  for (const p of ['code', 'state', 'iss']) assert.equal(url.searchParams.has(p), false);
  assert.equal(await page.evaluate(() => location.search), '');

  // The code exchange crossed origins: CORS allowed this exact origin, never with credentials.
  assert.equal(tokenResponses.length, 1);
  const exchange = tokenResponses[0];
  assert.equal(exchange.status, 200);
  assert.equal(exchange.headers['access-control-allow-origin'], spaOrigin);
  assert.equal(exchange.headers['access-control-allow-credentials'], undefined);
  // The allowed client gets the user's role and group in its access token (RFC 9068 §2.2.3.1).
  const at = claimsOf(exchange.body.access_token);
  assert.deepEqual(at.roles, ['admin']);
  assert.deepEqual(at.groups, ['engineering']);
  assert.equal(at.aud, AUDIENCE);

  // Who is signed in (userinfo).
  assert.equal(await page.locator('#username').textContent(), server.user.username);
  const user = await page.locator('#user').textContent();
  assert.match(user, new RegExp(server.user.email.replace('.', '\\.')));
  assert.match(user, /admin/);
  // The protected API answered: /api/me, and /api/admin through role admin (no scope admin asked).
  const api = await page.locator('#api').textContent();
  assert.match(api, /GET \/api\/me -> 200/);
  assert.match(api, /GET \/api\/admin -> 200/);
  assert.match(api, /"roles": \[\s*"admin"\s*\]/);
  assert.deepEqual(consoleErrors, []);

  await page.screenshot({ path: shot, fullPage: true });
  assert.ok(statSync(shot).size > 1000, 'screenshot written');
  passed++;
});

test('refresh: the rotating refresh token gives new tokens and the API still answers', { timeout: 60_000 }, async () => {
  assert.ok(page, 'signed in by the previous test');
  const before = tokenResponses.at(-1).body;
  await page.locator('#refresh').click();
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('Tokens refreshed')
    || !document.getElementById('error').hidden);
  assert.equal(await page.locator('#error').isHidden(), true, await page.locator('#error').textContent());
  const after = tokenResponses.at(-1);
  assert.equal(tokenResponses.length, 2);
  assert.equal(after.status, 200);
  assert.equal(after.headers['access-control-allow-origin'], spaOrigin);
  assert.notEqual(after.body.refresh_token, before.refresh_token, 'the refresh token rotates');
  assert.notEqual(claimsOf(after.body.access_token).jti, claimsOf(before.access_token).jti);
  assert.match(await page.locator('#token').textContent(), new RegExp(claimsOf(after.body.access_token).jti));

  await page.locator('#call-api').click();
  await page.waitForFunction(() => !document.querySelector('#call-api').disabled);
  assert.match(await page.locator('#api').textContent(), /GET \/api\/me -> 200/);

  passed++;
});

test('sign out: revocation and RP-initiated logout bring the SPA back signed out; the session is gone', { timeout: 60_000 }, async () => {
  assert.ok(page, 'signed in by the previous test');
  const refreshToken = tokenResponses.at(-1).body.refresh_token;
  const revoked = page.waitForResponse((r) => r.url() === `${server.issuer}/revoke`);
  const reloaded = page.waitForEvent('load');  // the SPA again, after the provider's logout
  await page.locator('#logout').click();
  const revocation = await revoked;
  assert.equal(revocation.status(), 200);
  assert.equal(revocation.headers()['access-control-allow-origin'], spaOrigin);
  await reloaded;
  assert.equal(new URL(page.url()).origin, spaOrigin);
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('You are signed out'));
  assert.equal(new URL(page.url()).search, '', 'the logout state is cleared from the address bar');
  assert.equal(await page.locator('#login').isVisible(), true);

  // The refresh token (and with it its grant) is revoked.
  const res = await fetch(tokenEndpoint(), {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'latchkey-spa' }),
  });
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error, 'invalid_grant');
  // The provider session ended: signing in again asks for the password.
  await page.locator('#login').click();
  await page.waitForSelector('input[name="password"]');
  assert.deepEqual(consoleErrors, []);
  passed++;
});

test('CORS: other origins get no Access-Control-Allow-Origin, and the browser withholds the answer', { timeout: 60_000 }, async () => {
  const preflight = (origin) => fetch(tokenEndpoint(), {
    method: 'OPTIONS',
    headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
  });
  const ok = await preflight(spaOrigin);
  assert.equal(ok.status, 204);
  assert.equal(ok.headers.get('access-control-allow-origin'), spaOrigin);
  assert.match(ok.headers.get('access-control-allow-methods'), /POST/);
  assert.equal(ok.headers.get('access-control-allow-credentials'), null);
  const evil = await preflight('http://127.0.0.1:1');
  assert.equal(evil.headers.get('access-control-allow-origin'), null);
  assert.equal(evil.headers.get('access-control-allow-methods'), null);

  // A page of another origin (the API's) cannot read the token endpoint's answers for the SPA.
  const context = await browser.newContext();
  const other = await context.newPage();
  await other.goto(`${apiUrl}/healthz`);
  const outcome = await other.evaluate(async ([url]) => {
    try {
      const r = await fetch(url, {
        method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=refresh_token&refresh_token=x&client_id=latchkey-spa',
      });
      return `read ${r.status}`;
    } catch (e) {
      return `blocked ${e.name}`;
    }
  }, [tokenEndpoint()]);
  assert.equal(outcome, 'blocked TypeError');
  // Discovery is public: readable from anywhere.
  const discovery = await other.evaluate(async ([url]) => (await fetch(url)).status, [`${server.issuer}/.well-known/openid-configuration`]);
  assert.equal(discovery, 200);
  await context.close();
  await new Promise((r) => setTimeout(r, 200));
  assert.match(server.logs(), /CORS: no Access-Control-Allow-Origin for origin 'http:\/\/127\.0\.0\.1:1'/);
  assert.match(server.logs(), new RegExp(`CORS: no Access-Control-Allow-Origin for origin '${apiUrl.replace(/[.]/g, '\\.')}'`));
  passed++;
});

test('roles: a client that was not allowed them gets invalid_scope, its tokens carry none, and /api/admin is 403', { timeout: 60_000 }, async () => {
  const agent = new Browserless();
  const authorize = (scope) => {
    const { challenge } = pkcePair();
    const u = new URL('/authorize', server.issuer);
    u.search = new URLSearchParams({ response_type: 'code', client_id: 'no-roles-app', redirect_uri: 'http://127.0.0.1:50999/callback',
      scope, state: b64url(randomBytes(8)), code_challenge: challenge, code_challenge_method: 'S256', resource: AUDIENCE }).toString();
    return u;
  };
  // Asking for roles without the allowance.
  const refused = await agent.request(authorize('openid roles'));
  assert.equal(refused.status, 303);
  assert.equal(new URL(refused.headers.get('location')).searchParams.get('error'), 'invalid_scope');

  // A normal login of the same admin user through the client without the allowance.
  const { verifier, challenge } = pkcePair();
  const u = authorize('openid profile');
  u.searchParams.set('code_challenge', challenge);
  const landed = await completeInteraction(agent, server, u);
  const code = landed.searchParams.get('code');
  assert.ok(code, `no code: ${landed}`);
  const res = await fetch(tokenEndpoint(), {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: 'http://127.0.0.1:50999/callback',
      code_verifier: verifier, client_id: 'no-roles-app' }),
  });
  assert.equal(res.status, 200);
  const accessToken = (await res.json()).access_token;
  const claims = claimsOf(accessToken);
  assert.equal(claims.roles, undefined);
  assert.equal(claims.groups, undefined);
  const api = (p) => fetch(`${apiUrl}${p}`, { headers: { Authorization: `Bearer ${accessToken}` } });
  assert.equal((await api('/api/me')).status, 200);
  const admin = await api('/api/admin');
  assert.equal(admin.status, 403);
  assert.match(admin.headers.get('www-authenticate'), /error="insufficient_scope"/);
  passed++;
});
