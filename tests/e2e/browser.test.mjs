// Headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) logs in and consents
// through the real pages of latchkey-server and lands on a loopback redirect_uri with a code.
// Screenshots of the three pages are kept in tests/e2e/artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, statSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { Server, startCallbackServer, pkcePair, b64url } from './harness.mjs';
import { randomBytes } from 'node:crypto';

const here = path.dirname(fileURLToPath(import.meta.url));
const artifacts = path.join(here, 'artifacts');
const CHROMIUM = process.env.LATCHKEY_CHROMIUM || '/usr/bin/chromium';

let server;
let callback;
let browser;
let passed = false;

before(async () => {
  callback = await startCallbackServer();
  server = new Server({ publicRedirectUris: [callback.url] });
  await server.start();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout: 60_000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
  });
});

after(async () => {
  await browser?.close().catch(() => {});
  await callback?.close();
  if (server) {
    const code = await server.stop();
    if (code !== 0 || !passed) process.stderr.write(`\n==== server logs ====\n${server.logs()}\n`);
    await server.cleanup();
    assert.equal(code, 0, 'latchkey-server exits 0 on SIGTERM');
  }
});

async function shot(page, name) {
  const file = path.join(artifacts, name);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

test('login and consent in Chromium land on the redirect_uri with code, state and iss', { timeout: 120_000 }, async () => {
  mkdirSync(artifacts, { recursive: true });
  for (const f of ['login.png', 'consent.png', 'landing.png']) rmSync(path.join(artifacts, f), { force: true });

  const context = await browser.newContext({ viewport: { width: 900, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const serverErrors = [];
  page.on('response', (r) => { if (r.status() >= 500) serverErrors.push(`${r.status()} ${r.url()}`); });
  try {
    const state = b64url(randomBytes(12));
    const { verifier, challenge } = pkcePair();
    const authorize = new URL('/authorize', server.issuer);
    authorize.search = new URLSearchParams({
      response_type: 'code', client_id: server.public.clientId, redirect_uri: callback.url,
      scope: 'openid profile email', state, nonce: b64url(randomBytes(12)),
      code_challenge: challenge, code_challenge_method: 'S256',
    }).toString();

    // Login page
    await page.goto(authorize.href);
    assert.match(new URL(page.url()).pathname, /^\/interaction\//);
    await page.waitForSelector('input[name="password"]');
    const loginShot = await shot(page, 'login.png');
    await page.fill('input[name="username"]', server.user.username);
    await page.fill('input[name="password"]', server.user.password);
    await Promise.all([
      page.waitForSelector('[name="decision"][value="allow"]'),
      page.locator('form[method="post" i] [type="submit"], form[method="post" i] button:not([type])').first().click(),
    ]);

    // Consent page
    const consentText = await page.locator('body').innerText();
    assert.ok(consentText.includes(server.public.clientId), 'the consent page names the client');
    const consentShot = await shot(page, 'consent.png');
    const landed = callback.next();
    await Promise.all([
      page.waitForURL((u) => u.href.startsWith(callback.url)),
      page.click('[name="decision"][value="allow"]'),
    ]);
    const hit = await landed;

    // Landing page on the relying party's loopback server
    await page.waitForSelector('h1');
    const landingShot = await shot(page, 'landing.png');

    assert.equal(hit.origin + hit.pathname, callback.url);
    assert.ok(hit.searchParams.get('code'), `no code in ${hit.href}`);
    assert.equal(hit.searchParams.get('state'), state);
    assert.equal(hit.searchParams.get('iss'), server.issuer);
    assert.equal(hit.searchParams.get('error'), null);

    // The code is real: exchange it (public client, PKCE).
    const res = await fetch(new URL('/token', server.issuer), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code', code: hit.searchParams.get('code'), redirect_uri: callback.url,
        code_verifier: verifier, client_id: server.public.clientId,
      }),
      signal: AbortSignal.timeout(10_000),
    });
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.token_type, 'Bearer');
    assert.ok(body.access_token && body.id_token);

    for (const file of [loginShot, consentShot, landingShot]) {
      assert.ok(statSync(file).size > 0, `${file} is empty`);
    }
    assert.deepEqual(serverErrors, []);
    passed = true;
  } finally {
    await context.close();
  }
});
