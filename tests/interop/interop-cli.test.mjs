// Interop: the real `latchkey` CLI against node's oidc-provider (provider.mjs), an independent
// OpenID Provider with its own login and consent pages. BROWSER is browser-driver.mjs (headless
// Chromium). Covers login (browser and device), status, token, refresh, logout with revocation,
// and the provider saying no. Every child has a bounded wait and is killed at the end.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = process.env.LATCHKEY_CLI_BIN;
const DRIVER = path.join(here, 'browser-driver.mjs');
const CLIENT_ID = 'latchkey-cli';
const CMD_TIMEOUT_MS = 90_000;

const tmp = mkdtempSync(path.join(tmpdir(), 'latchkey-interop-'));
const home = path.join(tmp, 'home');
const children = new Set();
let provider;
let providerLog = '';
let issuer;
let user;
let metadata;

// Runs a command to completion (or kills it after `timeout` ms). onStderr sees stderr as it comes.
function run(bin, args, { env = {}, timeout = CMD_TIMEOUT_MS, onStderr } = {}) {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { env: { ...process.env, LATCHKEY_HOME: home, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; onStderr?.(stderr); });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code: code ?? signal, stdout, stderr });
    });
    child.stdin.end();
  });
}

const latchkey = (args, opts) => run(CLI, args, opts);

function browserEnv(extra = {}) {
  const log = path.join(tmp, `driver-${Date.now()}-${Math.random().toString(16).slice(2)}.log`);
  return {
    log,
    env: {
      BROWSER: `"${process.execPath}" "${DRIVER}"`,
      LATCHKEY_TEST_USERNAME: user.username,
      LATCHKEY_TEST_PASSWORD: user.password,
      LATCHKEY_TEST_DRIVER_LOG: log,
      LATCHKEY_TEST_DRIVER_PID: log + '.pid',
      ...extra,
    },
  };
}

// The driver outlives latchkey (it closes Chromium after the redirect): wait for its report.
async function driverReport(log, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (existsSync(log)) return readFileSync(log, 'utf8');
    await new Promise((r) => setTimeout(r, 100));
  }
  return '(no driver report)';
}

function killDriver(log) {
  try { process.kill(Number(readFileSync(log + '.pid', 'utf8')), 'SIGKILL'); } catch { /* already gone */ }
}

const credentials = (profile = 'default') => JSON.parse(readFileSync(path.join(home, 'credentials', `${profile}.json`), 'utf8'));
const context = (r, log) => `exit ${r.code}\n${r.stderr}\ndriver: ${log}\nprovider:\n${providerLog.slice(-3000)}`;

// The provider's own view of a token: its userinfo endpoint accepts only tokens it issued and still honours.
async function userinfo(accessToken) {
  const res = await fetch(metadata.userinfo_endpoint, {
    headers: { Authorization: `Bearer ${accessToken}` }, signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, body: await res.json().catch(() => ({})) };
}

async function refreshGrant(refreshToken) {
  const res = await fetch(metadata.token_endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: CLIENT_ID }),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, body: await res.json().catch(() => ({})) };
}

// A browser login; `extra` are more flags, `decision` what the driver answers on the consent page.
async function browserLogin(profile, extra = [], decision = 'allow') {
  const { env, log } = browserEnv({ LATCHKEY_TEST_DECISION: decision });
  const r = await latchkey(['auth', 'login', '--profile', profile, '--issuer', issuer, '--client-id', CLIENT_ID,
    '--timeout', '90s', ...extra], { env });
  const report = await driverReport(log);
  killDriver(log);
  return { r, report };
}

// A device login; the driver plays the user on the provider's device pages.
async function deviceLogin(profile, { decision = 'allow', typeTheCode = true } = {}) {
  let driver;
  let log = '(driver not started)';
  const r = await latchkey(['auth', 'login', '--device', '--profile', profile, '--issuer', issuer,
    '--client-id', CLIENT_ID, '--timeout', '120s'], {
    timeout: 150_000,
    onStderr: (stderr) => {
      if (driver) return;
      const complete = stderr.match(/Or open this link, which carries the code:\s+(\S+)/);
      const code = stderr.match(/and enter the code:\s+(\S+)/);
      const uri = stderr.match(/open this page on any device:\s+(\S+)/);
      if (!(code && uri && /Waiting for the login/.test(stderr))) return;
      const b = browserEnv({ LATCHKEY_TEST_DECISION: decision, LATCHKEY_TEST_USER_CODE: code[1] });
      log = b.log;
      driver = run(process.execPath, [DRIVER, typeTheCode || !complete ? uri[1] : complete[1]], { env: b.env, timeout: 100_000 });
    },
  });
  const report = driver ? (await driver, await driverReport(log)) : log;
  return { r, report };
}

before(async () => {
  assert.ok(CLI && existsSync(CLI), 'set LATCHKEY_CLI_BIN to the built latchkey');
  provider = spawn(process.execPath, [path.join(here, 'provider.mjs'), '0'], { cwd: here, stdio: ['ignore', 'pipe', 'pipe'] });
  provider.stderr.on('data', (d) => { providerLog += d; });
  let firstLine = '';
  const started = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), 30_000);
    provider.stdout.on('data', (d) => {
      firstLine += d;
      if (firstLine.includes('\n')) { clearTimeout(timer); resolve(true); }
    });
    provider.once('exit', () => { clearTimeout(timer); resolve(false); });
  });
  assert.ok(started, `oidc-provider did not start:\n${providerLog}`);
  const info = JSON.parse(firstLine.split('\n')[0]);
  issuer = info.issuer;
  user = { username: info.username, password: info.password };
  const res = await fetch(`${issuer}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(10_000) });
  metadata = await res.json();
  assert.ok(metadata.revocation_endpoint && metadata.device_authorization_endpoint && metadata.userinfo_endpoint);
});

after(async () => {
  for (const child of children) child.kill('SIGKILL');
  if (provider && provider.exitCode === null) {
    provider.kill('SIGTERM');
    await new Promise((resolve) => {
      const timer = setTimeout(() => { provider.kill('SIGKILL'); resolve(); }, 10_000);
      provider.once('exit', () => { clearTimeout(timer); resolve(); });
    });
  }
  rmSync(tmp, { recursive: true, force: true });
});

test('denying on the consent page ends the login with access_denied and exit code 4', { timeout: 150_000 }, async () => {
  const { r, report } = await browserLogin('denied', ['--prompt', 'consent'], 'deny');
  assert.equal(r.code, 4, context(r, report));
  assert.match(r.stderr, /the provider refused the login: access_denied/);
  assert.match(r.stderr, /denied access; log in again and allow it/);
  assert.match(report, /^ok http:\/\/127\.0\.0\.1:\d+\/callback\?.*error=access_denied/m, 'the browser came back to the loopback listener');
  assert.ok(!existsSync(path.join(home, 'credentials', 'denied.json')), 'no tokens stored');
});

test('without --prompt consent the provider drops offline_access: login warns, and token says how to fix it', { timeout: 150_000 }, async () => {
  const { r, report } = await browserLogin('no-offline');
  assert.equal(r.code, 0, context(r, report));
  assert.match(r.stderr, /warning: the provider issued no refresh token although offline_access was asked for \(granted: openid profile\)/);
  assert.match(r.stderr, /--prompt consent/);
  const status = JSON.parse((await latchkey(['auth', 'status', '--json', '--profile', 'no-offline'])).stdout);
  assert.equal(status.has_refresh_token, false);
  // The access token itself is fine...
  const token = await latchkey(['auth', 'token', '--profile', 'no-offline']);
  assert.equal(token.code, 0, token.stderr);
  assert.equal((await userinfo(token.stdout.trim())).status, 200);
  // ...but once it must be refreshed, the error names the flag that would have helped.
  const forced = await latchkey(['auth', 'token', '--profile', 'no-offline', '--min-valid', '100000']);
  assert.equal(forced.code, 3, forced.stderr);
  assert.match(forced.stderr, /no refresh token .*--prompt consent/);
});

test('login with the browser through the provider\'s login and consent pages', { timeout: 150_000 }, async () => {
  const { r, report } = await browserLogin('default', ['--prompt', 'consent']);
  assert.equal(r.code, 0, context(r, report));
  assert.match(r.stderr, /Logged in to http:\/\/127\.0\.0\.1:\d+ as a1b2c3-alice \(profile default\)/);
  assert.doesNotMatch(r.stderr, /warning/);
  // The provider matched our ephemeral loopback port against http://127.0.0.1/callback (RFC 8252 §7.3).
  assert.match(r.stderr, /Waiting for the browser to return to http:\/\/127\.0\.0\.1:\d+\/callback/);
  assert.match(report, /^ok http:\/\/127\.0\.0\.1:\d+\/callback\?code=.*&iss=/m);
  const saved = credentials();
  assert.ok(saved.refresh_token && saved.id_token && saved.access_token);
});

test('status reports issuer, subject, scopes and expiry, never a token', { timeout: 30_000 }, async () => {
  const json = await latchkey(['auth', 'status', '--json']);
  assert.equal(json.code, 0, json.stderr);
  const status = JSON.parse(json.stdout);
  assert.equal(status.issuer, issuer);
  assert.equal(status.client_id, CLIENT_ID);
  assert.equal(status.logged_in, true);
  assert.equal(status.subject, 'a1b2c3-alice');
  assert.deepEqual(status.scope.split(' ').sort(), ['offline_access', 'openid', 'profile']);
  assert.equal(status.has_refresh_token, true);
  assert.ok(status.expires_at > Date.now() / 1000 + 500, 'expires_in (600 s) was used');
  const human = await latchkey(['auth', 'status']);
  assert.equal(human.code, 0);
  const saved = credentials();
  for (const secret of [saved.access_token, saved.refresh_token, saved.id_token]) {
    assert.ok(!json.stdout.includes(secret) && !human.stdout.includes(secret), 'status leaks a token');
  }
});

test('token prints only an access token the provider accepts', { timeout: 30_000 }, async () => {
  const r = await latchkey(['auth', 'token']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, credentials().access_token + '\n');
  const info = await userinfo(r.stdout.trim());
  assert.equal(info.status, 200);
  assert.equal(info.body.sub, 'a1b2c3-alice');
  assert.equal(info.body.name, 'Alice Interop');
});

test('refresh, and token --min-valid, rotate the tokens at the provider', { timeout: 60_000 }, async () => {
  const before = credentials();
  const r = await latchkey(['auth', 'refresh']);
  assert.equal(r.code, 0, r.stderr + providerLog.slice(-2000));
  assert.match(r.stderr, /Refreshed \(profile default\); the access token expires in (9|10) min/);
  const after = credentials();
  assert.notEqual(after.access_token, before.access_token);
  assert.notEqual(after.refresh_token, before.refresh_token, 'oidc-provider rotates a public client\'s refresh token');
  assert.equal(after.subject, 'a1b2c3-alice', 'the refreshed id_token is about the same user');
  assert.equal((await userinfo(after.access_token)).status, 200);

  const forced = await latchkey(['auth', 'token', '--min-valid', '100000']);
  assert.equal(forced.code, 0, forced.stderr);
  const latest = credentials();
  assert.equal(forced.stdout.trim(), latest.access_token);
  assert.notEqual(latest.refresh_token, after.refresh_token);
  assert.equal((await userinfo(latest.access_token)).status, 200);
});

test('logout revokes the refresh token at the provider and deletes the local tokens', { timeout: 60_000 }, async () => {
  const { refresh_token: refreshToken } = credentials();
  const r = await latchkey(['auth', 'logout']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /Revoked the tokens at http:\/\/127\.0\.0\.1:\d+\./);
  assert.ok(!existsSync(path.join(home, 'credentials', 'default.json')));
  const grant = await refreshGrant(refreshToken);
  assert.equal(grant.status, 400, JSON.stringify(grant.body));
  assert.equal(grant.body.error, 'invalid_grant');
  const token = await latchkey(['auth', 'token']);
  assert.equal(token.code, 3);
  assert.match(token.stderr, /not logged in \(profile default\)/);
});

test('device flow: the user types the code on the provider\'s device page', { timeout: 180_000 }, async () => {
  const { r, report } = await deviceLogin('device');
  assert.equal(r.code, 0, context(r, report));
  assert.match(r.stderr, /and enter the code:\s+[A-Z]{4}-[A-Z]{4}/);
  assert.match(report, /^ok .*Device login complete/m);
  const status = JSON.parse((await latchkey(['auth', 'status', '--json', '--profile', 'device'])).stdout);
  assert.equal(status.logged_in, true);
  assert.equal(status.subject, 'a1b2c3-alice');
  assert.equal(status.has_refresh_token, true);
  const token = await latchkey(['auth', 'token', '--profile', 'device', '--min-valid', '100000']);
  assert.equal(token.code, 0, token.stderr);
  assert.equal((await userinfo(token.stdout.trim())).status, 200);
});

test('device flow: aborting on the device page ends the login with exit code 4', { timeout: 180_000 }, async () => {
  const { r, report } = await deviceLogin('device-denied', { decision: 'deny', typeTheCode: false });
  assert.equal(r.code, 4, context(r, report));
  assert.match(r.stderr, /the login was denied on the device page/);
  assert.ok(!existsSync(path.join(home, 'credentials', 'device-denied.json')));
});
