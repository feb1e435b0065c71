// End to end: `latchkey auth login` (headless Chromium through the real pages), then `latchkey api`
// against examples/protected-api, which validates the tokens with liblatchkey-resource — locally
// (JWT) on one port, by introspection (RFC 7662) on another. Every child is bounded and killed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts } from '../e2e/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const SERVER = process.env.LATCHKEY_SERVER_BIN;
const CLI = process.env.LATCHKEY_CLI_BIN;
const API = process.env.LATCHKEY_API_BIN;
const DRIVER = path.join(here, '..', 'cli', 'browser-driver.mjs');
const CMD_TIMEOUT_MS = 90_000;
const AUDIENCE = 'https://api.latchkey.test';

const tmp = mkdtempSync(path.join(tmpdir(), 'latchkey-resource-e2e-'));
const home = path.join(tmp, 'home');
const db = 'sqlite:' + path.join(tmp, 'latchkey.db');
const password = 'correct horse ' + randomBytes(6).toString('hex');
const apiSecret = randomBytes(24).toString('base64url');
const serverEnv = { LATCHKEY_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url') };
const children = new Set();
const daemons = [];
let issuer, jwtApi, introspectionApi;
let logs = '';


function run(bin, args, { env = {}, input, timeout = CMD_TIMEOUT_MS } = {}) {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { env: { ...process.env, LATCHKEY_HOME: home, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code: code ?? signal, stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}

const latchkey = (args, opts) => run(CLI, args, opts);

async function admin(...args) {
  const input = args.at(-1)?.stdin;
  if (input !== undefined) args.pop();
  const r = await run(SERVER, [...args, '--database', db], { env: serverEnv, input });
  assert.equal(r.code, 0, `${args.join(' ')}:\n${r.stdout}${r.stderr}`);
  return r;
}

// Starts a long-running child and waits until it says it is listening and `url` answers 200. The
// child's own line matters: another process on the port could answer the probe.
async function daemon(name, bin, args, url, { env = {}, input } = {}) {
  const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  daemons.push(child);
  let listening = false;
  child.stdout.on('data', (d) => { logs += `[${name}] ${d}`; if (String(d).includes('listening on')) listening = true; });
  child.stderr.on('data', (d) => { logs += `[${name}] ${d}`; });
  child.stdin.end(input ?? '');
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200 && listening) return child;
    } catch { /* not yet */ }
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${name} did not start:\n${logs}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

async function login(args) {
  const log = path.join(tmp, `driver-${Date.now()}-${randomBytes(4).toString('hex')}.log`);
  const env = {
    BROWSER: `"${process.execPath}" "${DRIVER}"`,
    LATCHKEY_TEST_USERNAME: 'alice',
    LATCHKEY_TEST_PASSWORD: password,
    LATCHKEY_TEST_DRIVER_LOG: log,
    LATCHKEY_TEST_DRIVER_PID: log + '.pid',
  };
  const r = await latchkey(['auth', 'login', '--timeout', '60s', ...args], { env });
  const deadline = Date.now() + 30_000;
  while (!existsSync(log) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
  const report = existsSync(log) ? readFileSync(log, 'utf8') : '(no driver report)';
  try { process.kill(Number(readFileSync(log + '.pid', 'utf8')), 'SIGKILL'); } catch { /* gone */ }
  assert.equal(r.code, 0, `login failed:\n${r.stderr}\ndriver: ${report}\n${logs.slice(-3000)}`);
}

before(async () => {
  for (const [name, bin] of [['LATCHKEY_SERVER_BIN', SERVER], ['LATCHKEY_CLI_BIN', CLI], ['LATCHKEY_API_BIN', API]])
    assert.ok(bin && existsSync(bin), `set ${name} to the built binary`);
  const [idpPort, jwtPort, introspectionPort] = await freePorts(3);
  issuer = `http://127.0.0.1:${idpPort}`;
  jwtApi = `http://127.0.0.1:${jwtPort}`;
  introspectionApi = `http://127.0.0.1:${introspectionPort}`;

  await admin('migrate');
  // The CLI may ask for the API's audience; only an admin-minded login asks for scope admin.
  await admin('client', 'create', '--client-id', 'latchkey-cli', '--public', '--redirect-uri', 'http://127.0.0.1/callback',
    '--scope', 'openid profile offline_access admin', '--audience', AUDIENCE);
  // The API itself is a confidential client: introspection needs its credentials (RFC 7662 §2.1).
  await admin('client', 'create', '--client-id', 'protected-api', '--secret-stdin',
    '--redirect-uri', 'https://api.latchkey.test/unused', '--scope', 'openid', { stdin: apiSecret + '\n' });
  await admin('user', 'create', '--username', 'alice', '--password-stdin', '--name', 'Alice', { stdin: password + '\n' });

  await daemon('idp', SERVER, ['serve', '--listen', `127.0.0.1:${idpPort}`, '--issuer', issuer, '--database', db],
    `${issuer}/.well-known/openid-configuration`, { env: serverEnv });
  await daemon('api-jwt', API, ['--listen', `127.0.0.1:${jwtPort}`, '--issuer', issuer, '--audience', AUDIENCE],
    `${jwtApi}/healthz`);
  await daemon('api-introspection', API, ['--listen', `127.0.0.1:${introspectionPort}`, '--issuer', issuer,
    '--audience', AUDIENCE, '--introspect', '--client-id', 'protected-api', '--client-secret-stdin',
    '--introspection-cache-seconds', '1'], `${introspectionApi}/healthz`, { input: apiSecret + '\n' });
});

after(async () => {
  for (const child of children) child.kill('SIGKILL');
  for (const child of daemons) {
    if (child.exitCode !== null) continue;
    child.kill('SIGTERM');
    await new Promise((resolve) => {
      const timer = setTimeout(() => { child.kill('SIGKILL'); resolve(); }, 10_000);
      child.once('exit', () => { clearTimeout(timer); resolve(); });
    });
  }
  rmSync(tmp, { recursive: true, force: true });
});

test('log in with the API audience; latchkey api /api/me answers 200 with the subject', { timeout: 180_000 }, async () => {
  await login(['--issuer', issuer, '--client-id', 'latchkey-cli', '--scope', 'openid profile offline_access',
    '--audience', AUDIENCE]);
  const status = JSON.parse((await latchkey(['auth', 'status', '--json'])).stdout);
  assert.ok(status.subject);

  const r = await latchkey(['api', `${jwtApi}/api/me`]);
  assert.equal(r.code, 0, `${r.stderr}\n${logs.slice(-2000)}`);
  const me = JSON.parse(r.stdout);
  assert.equal(me.sub, status.subject);
  assert.equal(me.client_id, 'latchkey-cli');
  assert.deepEqual(me.scope.sort(), ['offline_access', 'openid', 'profile']);
  assert.equal(r.stderr, '');
});

test('/api/admin without scope admin: 403 insufficient_scope, latchkey api exits 8', { timeout: 60_000 }, async () => {
  const r = await latchkey(['api', '-i', `${jwtApi}/api/admin`]);
  assert.equal(r.code, 8, r.stderr);
  assert.match(r.stdout, /^HTTP 403\n/);
  assert.match(r.stdout, /^www-authenticate: Bearer error="insufficient_scope", error_description="[^"]+", scope="admin"$/m);
  assert.equal(JSON.parse(r.stdout.slice(r.stdout.indexOf('\n\n') + 2)).error, 'insufficient_scope');
  assert.match(r.stderr, /^latchkey: the API answered HTTP 403 \(WWW-Authenticate: Bearer error="insufficient_scope"/);
});

test('the API answers RFC 6750 errors to requests without a usable token', { timeout: 60_000 }, async () => {
  const none = await fetch(`${jwtApi}/api/me`);
  assert.equal(none.status, 401);
  assert.equal(none.headers.get('www-authenticate'), 'Bearer', 'no credentials: a challenge without error code (§3.1)');
  const malformed = await fetch(`${jwtApi}/api/me`, { headers: { Authorization: 'Bearer a b' } });
  assert.equal(malformed.status, 400);
  assert.match(malformed.headers.get('www-authenticate'), /^Bearer error="invalid_request"/);
  const forged = await fetch(`${jwtApi}/api/me`, { headers: { Authorization: 'Bearer eyJhbGciOiJub25lIn0.e30.' } });
  assert.equal(forged.status, 401);
  assert.match(forged.headers.get('www-authenticate'), /^Bearer error="invalid_token"/);
  const idToken = JSON.parse(readFileSync(path.join(home, 'credentials', 'default.json'), 'utf8')).id_token;
  const wrongType = await fetch(`${jwtApi}/api/me`, { headers: { Authorization: `Bearer ${idToken}` } });
  assert.equal(wrongType.status, 401, 'an id_token is not an access token (typ)');
});

test('with scope admin, /api/admin answers 200', { timeout: 180_000 }, async () => {
  await login(['--profile', 'admin', '--issuer', issuer, '--client-id', 'latchkey-cli', '--scope', 'openid admin',
    '--audience', AUDIENCE]);
  const r = await latchkey(['api', '--profile', 'admin', `${jwtApi}/api/admin`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).admin, true);
});

test('a token for another audience is refused (401), even after the refresh-and-retry', { timeout: 180_000 }, async () => {
  await login(['--profile', 'noaud', '--issuer', issuer, '--client-id', 'latchkey-cli', '--scope', 'openid offline_access']);
  const tokenFile = path.join(home, 'credentials', 'noaud.json');
  const before = JSON.parse(readFileSync(tokenFile, 'utf8')).access_token;
  const r = await latchkey(['api', '--profile', 'noaud', `${jwtApi}/api/me`]);
  assert.equal(r.code, 8, r.stderr);
  assert.notEqual(JSON.parse(readFileSync(tokenFile, 'utf8')).access_token, before, 'refreshed once after invalid_token');
  assert.match(r.stderr, /HTTP 401 \(WWW-Authenticate: Bearer error="invalid_token", error_description="the token is not meant for this API/);
});

test('introspection mode: 200, then 401 once `latchkey auth logout` revoked the grant', { timeout: 60_000 }, async () => {
  const ok = await latchkey(['api', `${introspectionApi}/api/me`]);
  assert.equal(ok.code, 0, `${ok.stderr}\n${logs.slice(-2000)}`);
  const token = (await latchkey(['auth', 'token'])).stdout.trim();
  assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);

  const out = await latchkey(['auth', 'logout']);
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stderr, /Revoked/);
  await new Promise((r) => setTimeout(r, 1500));  // the API's introspection cache TTL is 1 s

  const revoked = await fetch(`${introspectionApi}/api/me`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(revoked.status, 401);
  assert.match(revoked.headers.get('www-authenticate'), /^Bearer error="invalid_token", error_description="the token is not active"/);
  // Local JWT validation cannot see a revocation: the token stays valid there until it expires.
  const jwt = await fetch(`${jwtApi}/api/me`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(jwt.status, 200);

  const after = await latchkey(['api', `${introspectionApi}/api/me`]);
  assert.equal(after.code, 3, 'logged out: login required');
});

test('latchkey api refuses to send the token over plain http to another host', { timeout: 30_000 }, async () => {
  const r = await latchkey(['api', '--profile', 'admin', 'http://api.example.com/api/me']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /refusing to send the access token/);
});
