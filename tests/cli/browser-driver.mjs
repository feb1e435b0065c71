#!/usr/bin/env node
// Stands in for the user's browser: `BROWSER="node browser-driver.mjs"` makes `latchkey auth login`
// run this with the authorization URL. Headless Chromium (Debian's, driven by playwright-core from
// tests/e2e/node_modules) logs in and answers the consent page of the real server, then follows
// the redirect to latchkey's loopback listener. The device flow uses it too, with the
// verification URL (and LATCHKEY_TEST_USER_CODE when the code must be typed).
// Env: LATCHKEY_TEST_USERNAME, LATCHKEY_TEST_PASSWORD, LATCHKEY_TEST_DECISION (allow|deny),
// LATCHKEY_TEST_DRIVER_LOG (a file that gets one line: "ok <final url>" or "error <message>").
import { appendFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../e2e/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const url = process.argv[2];
const log = process.env.LATCHKEY_TEST_DRIVER_LOG;
const say = (line) => { if (log) appendFileSync(log, line + '\n'); };
if (process.env.LATCHKEY_TEST_DRIVER_PID) writeFileSync(process.env.LATCHKEY_TEST_DRIVER_PID, String(process.pid));

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
  for (let step = 0; step < 10; step++) {
    await page.waitForLoadState('load');
    if (await page.locator('input[name="password"]').count()) {
      await page.fill('input[name="username"]', process.env.LATCHKEY_TEST_USERNAME);
      await page.fill('input[name="password"]', process.env.LATCHKEY_TEST_PASSWORD);
      await Promise.all([page.waitForNavigation(), page.locator('form[method="post" i] [type="submit"], form[method="post" i] button:not([type])').first().click()]);
      continue;
    }
    const decision = process.env.LATCHKEY_TEST_DECISION || 'allow';
    const button = page.locator(`[name="decision"][value="${decision}"]`);
    if (await button.count()) {
      await Promise.all([page.waitForNavigation(), button.first().click()]);
      continue;
    }
    const userCode = page.locator('input[name="user_code"]');
    if (await userCode.count()) {
      if (!(await userCode.first().inputValue())) await userCode.first().fill(process.env.LATCHKEY_TEST_USER_CODE || '');
      await Promise.all([page.waitForNavigation(), page.locator('form [type="submit"], form button:not([type])').first().click()]);
      continue;
    }
    break;  // no form left: the loopback page, or the device flow's final page
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
