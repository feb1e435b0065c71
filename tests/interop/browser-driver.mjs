#!/usr/bin/env node
// Stands in for the user's browser against oidc-provider: `BROWSER="node browser-driver.mjs"`
// makes `latchkey auth login` run this with the authorization URL. Headless Chromium (Debian's,
// driven by playwright-core from this folder's node_modules) signs in on the provider's login
// page, answers its consent page and follows the redirect to latchkey's loopback listener. The
// device flow uses it with the verification URL: it types the user code when the page asks for
// one (LATCHKEY_TEST_USER_CODE) and confirms the device.
// Env: LATCHKEY_TEST_USERNAME, LATCHKEY_TEST_PASSWORD, LATCHKEY_TEST_DECISION (allow|deny),
// LATCHKEY_TEST_DRIVER_LOG (gets one line: "ok <final url> <page text>" or "error <message>"),
// LATCHKEY_TEST_DRIVER_PID (a file that gets this process's pid, so the test can kill it).
import { appendFileSync, writeFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const url = process.argv[2];
const log = process.env.LATCHKEY_TEST_DRIVER_LOG;
const say = (line) => { if (log) appendFileSync(log, line + '\n'); };
if (process.env.LATCHKEY_TEST_DRIVER_PID) writeFileSync(process.env.LATCHKEY_TEST_DRIVER_PID, String(process.pid));
const decision = process.env.LATCHKEY_TEST_DECISION || 'allow';

const hardStop = setTimeout(() => { say('error driver timeout'); process.exit(3); }, 90_000);
let browser;
try {
  browser = await chromium.launch({
    executablePath: process.env.LATCHKEY_CHROMIUM || '/usr/bin/chromium',
    timeout: 60_000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
  });
  const page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(20_000);
  await page.goto(url);
  const submit = (button) => Promise.all([page.waitForNavigation(), button.click()]);
  for (let step = 0; step < 10; step++) {
    await page.waitForLoadState('load');
    if (await page.locator('input[name="password"]').count()) {
      await page.fill('input[name="username"]', process.env.LATCHKEY_TEST_USERNAME || '');
      await page.fill('input[name="password"]', process.env.LATCHKEY_TEST_PASSWORD || '');
      await submit(page.locator('form button[type="submit"]').first());
      continue;
    }
    const consent = page.locator(`button[name="decision"][value="${decision}"]`);
    if (await consent.count()) {
      await submit(consent.first());
      continue;
    }
    const userCode = page.locator('input[name="user_code"]:not([type="hidden"])');
    if (await userCode.count()) {
      if (!(await userCode.first().inputValue())) await userCode.first().fill(process.env.LATCHKEY_TEST_USER_CODE || '');
      await submit(page.locator('button[form="op.deviceInputForm"]').first());
      continue;
    }
    const confirm = page.locator(decision === 'deny' ? 'button[form="op.deviceConfirmForm"][name="abort"]'
      : 'button[form="op.deviceConfirmForm"]:not([name="abort"])');
    if (await confirm.count()) {
      await submit(confirm.first());
      continue;
    }
    // A page that submits itself (oidc-provider's device page when the link carries the code).
    if (await page.locator('form').count()) {
      await page.waitForNavigation({ timeout: 10_000 }).catch(() => {});
      continue;
    }
    break;  // no form left: latchkey's loopback page, or the device flow's final page
  }
  const text = (await page.textContent('body')) || '';
  say(`ok ${page.url()} ${text.replace(/\s+/g, ' ').slice(0, 200)}`);
} catch (err) {
  say(`error ${String(err?.message || err).split('\n')[0]}`);
  process.exitCode = 2;
} finally {
  await browser?.close().catch(() => {});
  clearTimeout(hardStop);
}
