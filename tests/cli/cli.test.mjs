// End to end: the real `latchkey` CLI against the real `latchkey-server serve --dev`, with BROWSER
// set to browser-driver.mjs (headless Chromium through the real login and consent pages).
// Every child has a bounded wait and is killed at the end.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, readFileSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const SERVER = process.env.LATCHKEY_SERVER_BIN;
const CLI = process.env.LATCHKEY_CLI_BIN;
const DRIVER = path.join(here, 'browser-driver.mjs');
const CMD_TIMEOUT_MS = 90_000;

const tmp = mkdtempSync(path.join(tmpdir(), 'latchkey-cli-e2e-'));
const home = path.join(tmp, 'home');
const children = new Set();
let server;
let issuer;
let password;
let metadata;
let serverLog = '';
const serverDir = path.join(tmp, 'server');

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
  });
}

// Runs a command to completion (or kills it after `timeout` ms). onStderr sees stderr as it comes.
function run(bin, args, { env = {}, input, timeout = CMD_TIMEOUT_MS, onStderr, cwd } = {}) {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { cwd, env: { ...process.env, LATCHKEY_HOME: home, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; onStderr?.(stderr, child); });
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

function browserEnv(extra = {}) {
  const log = path.join(tmp, `driver-${Date.now()}-${Math.random().toString(16).slice(2)}.log`);
  return {
    log,
    env: {
      BROWSER: `"${process.execPath}" "${DRIVER}"`,
      LATCHKEY_TEST_USERNAME: 'demo',
      LATCHKEY_TEST_PASSWORD: password,
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

async function tokenGrant(refreshToken) {
  const res = await fetch(metadata.token_endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'latchkey-cli' }),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, body: await res.json().catch(() => ({})) };
}

before(async () => {
  assert.ok(SERVER && existsSync(SERVER), 'set LATCHKEY_SERVER_BIN to the built latchkey-server');
  assert.ok(CLI && existsSync(CLI), 'set LATCHKEY_CLI_BIN to the built latchkey');
  const port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  const cwd = serverDir;
  mkdirSync(cwd);
  server = spawn(SERVER, ['serve', '--dev', '--listen', `127.0.0.1:${port}`], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout.on('data', (d) => { serverLog += d; });
  server.stderr.on('data', (d) => { serverLog += d; });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const res = await fetch(`${issuer}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) { metadata = await res.json(); break; }
    } catch { /* not yet */ }
    if (server.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start:\n${serverLog}`);
    await new Promise((r) => setTimeout(r, 150));
  }
  password = JSON.parse(readFileSync(path.join(cwd, 'latchkey-dev.credentials.json'), 'utf8')).demo_password;
});

after(async () => {
  for (const child of children) child.kill('SIGKILL');
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((resolve) => {
      const timer = setTimeout(() => { server.kill('SIGKILL'); resolve(); }, 10_000);
      server.once('exit', () => { clearTimeout(timer); resolve(); });
    });
  }
  rmSync(tmp, { recursive: true, force: true });
});

test('a denied consent ends with a clear message and exit code 4 (first: consent is not yet remembered)', { timeout: 180_000 }, async () => {
  const { env, log } = browserEnv({ LATCHKEY_TEST_DECISION: 'deny' });
  const r = await latchkey(['auth', 'login', '--profile', 'denied', '--issuer', issuer, '--client-id', 'latchkey-cli'], { env });
  const report = await driverReport(log);
  killDriver(log);
  assert.equal(r.code, 4, `${r.stderr}\ndriver: ${report}`);
  assert.match(r.stderr, /^latchkey: the provider refused the login: access_denied.* — /m);
  assert.match(report, /Sign-in failed/);
});

test('auth login through Chromium, then status and token', { timeout: 180_000 }, async () => {
  const { env, log } = browserEnv();
  const r = await latchkey(['auth', 'login', '--issuer', issuer, '--client-id', 'latchkey-cli',
    '--scope', 'openid profile email offline_access', '--timeout', '60s'], { env });
  const report = await driverReport(log);
  killDriver(log);
  assert.equal(r.code, 0, `login failed:\n${r.stderr}\ndriver: ${report}\n${serverLog.slice(-3000)}`);
  assert.match(r.stderr, /Waiting for the browser to return to http:\/\/127\.0\.0\.1:\d+\/callback \(press Ctrl-C to cancel/);
  assert.match(r.stderr, /response_type=code&client_id=latchkey-cli/, 'the URL is always printed');
  assert.match(report, /^ok http:\/\/127\.0\.0\.1:\d+\/callback\?.*You may close this window/s);
  assert.equal(r.stdout, '', 'login prints nothing on stdout');

  assert.equal(statSync(path.join(home, 'credentials')).mode & 0o777, 0o700);
  assert.equal(statSync(path.join(home, 'credentials', 'default.json')).mode & 0o777, 0o600);

  const status = await latchkey(['auth', 'status', '--json']);
  assert.equal(status.code, 0, status.stderr);
  const s = JSON.parse(status.stdout);
  assert.equal(s.issuer, issuer);
  assert.equal(s.logged_in, true);
  assert.ok(s.subject);
  assert.match(s.scope, /offline_access/);
  assert.equal(s.has_refresh_token, true);
  assert.ok(!/eyJ/.test(status.stdout), 'status never prints a token');
  const human = await latchkey(['auth', 'status']);
  assert.equal(human.code, 0);
  assert.match(human.stdout, /Subject:\s+\S+/);
  assert.ok(!human.stdout.includes(credentials().access_token));

  const token = await latchkey(['auth', 'token']);
  assert.equal(token.code, 0, token.stderr);
  assert.equal(token.stdout.trim(), credentials().access_token, 'a fresh token is printed as stored, not refreshed');
  assert.match(token.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/, 'only the token on stdout');
});

test('second login needs no flags (the profile remembers issuer, client and scopes)', { timeout: 180_000 }, async () => {
  const before = credentials().access_token;
  const { env, log } = browserEnv();
  const r = await latchkey(['auth', 'login'], { env });
  const report = await driverReport(log);
  killDriver(log);
  assert.equal(r.code, 0, `${r.stderr}\ndriver: ${report}`);
  assert.notEqual(credentials().access_token, before);
  const profiles = await latchkey(['auth', 'profiles']);
  assert.match(profiles.stdout, new RegExp(`^default\\t${issuer}\\tlogged in$`, 'm'));
});

const supports = (grant) => (metadata.grant_types_supported || []).includes(grant);

test('auth refresh rotates the tokens; auth token --min-valid refreshes first', { timeout: 60_000 }, async (t) => {
  if (!supports('refresh_token')) return t.skip('the server does not offer refresh_token yet');
  const first = credentials();
  const r = await latchkey(['auth', 'refresh']);
  assert.equal(r.code, 0, r.stderr);
  const second = credentials();
  assert.notEqual(second.access_token, first.access_token);
  assert.notEqual(second.refresh_token, first.refresh_token, 'the server rotates refresh tokens');

  const forced = await latchkey(['auth', 'token', '--min-valid', '100000']);
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal(forced.stdout.trim(), credentials().access_token);
  assert.notEqual(forced.stdout.trim(), second.access_token);
});

test('two auth token processes racing on an expiring, rotating token both succeed', { timeout: 60_000 }, async (t) => {
  if (!supports('refresh_token')) return t.skip('the server does not offer refresh_token yet');
  const results = await Promise.all([1, 2, 3].map(() => latchkey(['auth', 'token', '--min-valid', '100000'])));
  for (const r of results) {
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
  }
  // The grant survived (no refresh token was presented twice): one more refresh still works,
  // and the file is intact.
  const again = await latchkey(['auth', 'refresh']);
  assert.equal(again.code, 0, again.stderr);
  assert.ok(credentials().refresh_token);
  if (metadata.userinfo_endpoint) {
    const res = await fetch(metadata.userinfo_endpoint, {
      headers: { Authorization: `Bearer ${credentials().access_token}` }, signal: AbortSignal.timeout(10_000),
    });
    assert.equal(res.status, 200);
  }
});

test('auth logout revokes the refresh token at the provider and deletes it locally', { timeout: 60_000 }, async () => {
  const { refresh_token: refreshToken } = credentials();
  const r = await latchkey(['auth', 'logout']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /Logged out/);
  assert.ok(!existsSync(path.join(home, 'credentials', 'default.json')));
  if (metadata.revocation_endpoint) {
    assert.match(r.stderr, /Revoked/);
    if (supports('refresh_token')) {
      const grant = await tokenGrant(refreshToken);
      assert.equal(grant.status, 400);
      assert.equal(grant.body.error, 'invalid_grant');
    }
  } else {
    assert.match(r.stderr, /no revocation endpoint/);
  }
  const token = await latchkey(['auth', 'token']);
  assert.equal(token.code, 3);
  assert.match(token.stderr, /^latchkey: not logged in \(profile default\) — run `latchkey auth login`\n$/);
});

test('device flow: the user enters the code on the device page', { timeout: 180_000 }, async (t) => {
  if (!metadata.device_authorization_endpoint) return t.skip('the server has no device_authorization_endpoint yet');
  // The --dev client latchkey-cli has the default grants only: register one that may use the device flow.
  const created = await run(SERVER, ['client', 'create', '--dev', '--client-id', 'device-cli', '--public',
    '--redirect-uri', 'http://127.0.0.1/callback', '--grant-type', 'urn:ietf:params:oauth:grant-type:device_code',
    '--grant-type', 'refresh_token', '--scope', 'openid profile offline_access'], { env: { LATCHKEY_HOME: home }, cwd: serverDir });
  assert.equal(created.code, 0, created.stdout + created.stderr);
  let driver;
  const { env, log } = browserEnv();
  const r = await latchkey(['auth', 'login', '--device', '--profile', 'device', '--issuer', issuer,
    '--client-id', 'device-cli', '--timeout', '120s'], {
    onStderr: (stderr) => {
      if (driver) return;
      const complete = stderr.match(/Or open this link, which carries the code:\s+(\S+)/);
      const code = stderr.match(/and enter the code:\s+(\S+)/);
      const uri = stderr.match(/open this page on any device:\s+(\S+)/);
      if (!(code && uri && /Waiting for the login/.test(stderr))) return;
      driver = run(process.execPath, [DRIVER, complete ? complete[1] : uri[1]],
        { env: { ...env, LATCHKEY_TEST_USER_CODE: code[1] }, timeout: 90_000 });
    },
  });
  const report = driver ? (await driver, await driverReport(log)) : '(driver not started)';
  assert.equal(r.code, 0, `${r.stderr}\ndriver: ${report}\n${serverLog.slice(-3000)}`);
  assert.match(r.stderr, /and enter the code:\s+[A-Z0-9]{4}-[A-Z0-9]{4}/);
  const status = JSON.parse((await latchkey(['auth', 'status', '--json', '--profile', 'device'])).stdout);
  assert.equal(status.logged_in, true);
  assert.ok(status.subject);
});

test('--no-browser prints the URL and gives up after --timeout with exit code 6', { timeout: 60_000 }, async () => {
  const started = Date.now();
  const r = await latchkey(['auth', 'login', '--no-browser', '--profile', 'slow', '--issuer', issuer,
    '--client-id', 'latchkey-cli', '--timeout', '2s'], { env: { BROWSER: '/bin/false' } });
  assert.equal(r.code, 6, r.stderr);
  assert.ok(Date.now() - started < 20_000);
  assert.match(r.stderr, /Open this URL in a browser on this machine:\s+http:\/\/127\.0\.0\.1:\d+\/authorize\?/);
  assert.match(r.stderr, /^latchkey: timed out waiting for the browser .* — .*--device/m);
});

test('an unreachable issuer is a network error (exit 5) that names the URL', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const r = await latchkey(['auth', 'login', '--no-browser', '--profile', 'nowhere',
    '--issuer', `http://127.0.0.1:${port}`, '--client-id', 'x']);
  assert.equal(r.code, 5, r.stderr);
  assert.match(r.stderr, new RegExp(`^latchkey: cannot reach http://127\\.0\\.0\\.1:${port}/\\.well-known/openid-configuration`));
  assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
});

test('a corrupt credentials file is one line with its path and exit code 7', { timeout: 30_000 }, async () => {
  writeFileSync(path.join(home, 'profiles', 'broken.json'), JSON.stringify({ issuer, client_id: 'latchkey-cli' }));
  writeFileSync(path.join(home, 'credentials', 'broken.json'), '{"access_token": "trunc');
  const r = await latchkey(['auth', 'token', '--profile', 'broken']);
  assert.equal(r.code, 7, r.stderr);
  assert.equal(r.stderr, `latchkey: the credentials file ${path.join(home, 'credentials', 'broken.json')} is corrupt — delete it and run \`latchkey auth login\` again\n`);
});

test('usage errors exit 2 and help documents the exit codes', { timeout: 30_000 }, async () => {
  const bad = await latchkey(['auth', 'token', '--min-valid', 'soon']);
  assert.equal(bad.code, 2);
  const help = await latchkey(['auth', 'login', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Exit codes:[\s\S]*6\s+timeout/);
  assert.match(help.stdout, /--redirect-port/);
});
