// Starts the real latchkey-server for the browser and interop tests: temp dir, free loopback port,
// key from the environment, migrate, a confidential and a public client, a user; waits for the
// "listening on" line and a 200 from discovery. Every wait is bounded; stop() kills what SIGTERM
// does not end. Also a small cookie-keeping fetch and a tolerant HTML form reader.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, readFileSync, openSync, closeSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

export const READY_TIMEOUT_MS = 20_000;
export const STOP_TIMEOUT_MS = 10_000;
const ADMIN_TIMEOUT_MS = 60_000;

export const b64url = (buf) => Buffer.from(buf).toString('base64url');

export function pkcePair() {
  const verifier = b64url(randomBytes(32));
  const challenge = b64url(createHash('sha256').update(verifier).digest());
  return { verifier, challenge };
}

export function serverBinary() {
  const bin = process.env.LATCHKEY_SERVER_BIN;
  if (!bin) throw new Error('set LATCHKEY_SERVER_BIN to the built latchkey-server binary');
  if (!existsSync(bin)) throw new Error(`LATCHKEY_SERVER_BIN=${bin} does not exist`);
  return bin;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// n distinct free ports: all n listeners are held open together, so two calls in a row cannot hand
// out the same port (sequential freePort() calls can, and a second daemon then fails to bind while a
// readiness probe is answered by the first).
export async function freePorts(n) {
  const servers = [];
  try {
    for (let i = 0; i < n; i++) {
      const srv = createServer();
      servers.push(srv);
      await new Promise((resolve, reject) => { srv.once('error', reject); srv.listen(0, '127.0.0.1', resolve); });
    }
    return servers.map((srv) => srv.address().port);
  } finally {
    await Promise.all(servers.map((srv) => new Promise((resolve) => srv.close(() => resolve()))));
  }
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export class Server {
  constructor({ publicRedirectUris = [], confidentialRedirectUris = [] } = {}) {
    this.binary = serverBinary();
    this.tmp = mkdtempSync(path.join(tmpdir(), 'latchkey-e2e-'));
    this.db = 'sqlite:' + path.join(this.tmp, 'latchkey.db');
    this.stderrPath = path.join(this.tmp, 'server.stderr');
    this.env = { ...process.env, LATCHKEY_KEY_ENCRYPTION_KEY: b64url(randomBytes(32)) };
    this.stdoutLines = [];
    this.adminLog = [];
    this.proc = null;
    this.exitCode = undefined;
    this.confidential = {
      clientId: 'e2e-confidential',
      secret: b64url(randomBytes(32)),
      redirectUris: ['https://rp.example/callback', ...confidentialRedirectUris],
    };
    this.public = {
      clientId: 'e2e-public',
      secret: null,
      redirectUris: ['http://127.0.0.1/callback', ...publicRedirectUris],
    };
    this.user = {
      username: 'bob',
      password: 'battery staple ' + randomBytes(8).toString('hex'),
      email: 'bob@example.com',
      name: 'Bob Example',
    };
  }

  admin(args, stdin) {
    const res = spawnSync(this.binary, args, {
      input: stdin ?? '', env: this.env, encoding: 'utf8', timeout: ADMIN_TIMEOUT_MS,
    });
    this.adminLog.push(`$ ${this.binary} ${args.join(' ')}\n-> ${res.status}\n${res.stdout}${res.stderr}`);
    if (res.status !== 0) {
      throw new Error(`admin command failed (${res.status ?? res.error}): ${args.join(' ')}\n${res.stdout}\n${res.stderr}`);
    }
    return res;
  }

  provision() {
    this.admin(['migrate', '--database', this.db]);
    const scope = 'openid profile email offline_access';
    const redirects = (uris) => uris.flatMap((u) => ['--redirect-uri', u]);
    this.admin(['client', 'create', '--database', this.db, '--client-id', this.confidential.clientId,
      '--secret-stdin', '--scope', scope, ...redirects(this.confidential.redirectUris), '--json'],
    this.confidential.secret + '\n');
    this.admin(['client', 'create', '--database', this.db, '--client-id', this.public.clientId,
      '--public', '--scope', scope, ...redirects(this.public.redirectUris), '--json']);
    this.admin(['user', 'create', '--database', this.db, '--username', this.user.username,
      '--password-stdin', '--email', this.user.email, '--name', this.user.name, '--json'],
    this.user.password + '\n');
  }

  async start() {
    this.port = await freePort();
    this.issuer = `http://127.0.0.1:${this.port}`;
    this.provision();
    const stderrFd = openSync(this.stderrPath, 'w');
    try {
      this.proc = spawn(this.binary, ['serve', '--listen', `127.0.0.1:${this.port}`, '--issuer', this.issuer,
        '--database', this.db], { env: this.env, stdio: ['ignore', 'pipe', stderrFd] });
    } finally {
      closeSync(stderrFd);
    }
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, signal) => {
      this.exitCode = code ?? signal;
      resolve(this.exitCode);
    }));
    const expected = `latchkey-server listening on ${this.issuer}`;
    const ready = new Promise((resolve, reject) => {
      const lines = readline.createInterface({ input: this.proc.stdout });
      lines.on('line', (line) => {
        this.stdoutLines.push(line);
        if (line.startsWith(expected)) resolve();
      });
      this.exited.then((code) => reject(new Error(`server exited (${code}) before it was ready`)));
    });
    try {
      await withTimeout(ready, READY_TIMEOUT_MS, 'the "listening on" line');
      const deadline = Date.now() + READY_TIMEOUT_MS;
      for (;;) {
        try {
          const res = await fetch(`${this.issuer}/.well-known/openid-configuration`,
            { signal: AbortSignal.timeout(2000) });
          if (res.status === 200) break;
        } catch { /* not yet */ }
        if (Date.now() > deadline) throw new Error('discovery did not answer 200 in time');
        await new Promise((r) => setTimeout(r, 100));
      }
    } catch (err) {
      await this.stop();
      err.message += '\n' + this.logs();
      throw err;
    }
    return this;
  }

  // SIGTERM, then SIGKILL after STOP_TIMEOUT_MS. Resolves to the exit code of a graceful stop, or
  // 'killed'.
  async stop() {
    if (!this.proc) return this.exitCode;
    const proc = this.proc;
    this.proc = null;
    if (proc.exitCode !== null || proc.signalCode !== null) return this.exitCode ?? proc.exitCode;
    proc.kill('SIGTERM');
    try {
      return await withTimeout(this.exited, STOP_TIMEOUT_MS, 'server exit after SIGTERM');
    } catch {
      proc.kill('SIGKILL');
      await withTimeout(this.exited, STOP_TIMEOUT_MS, 'server exit after SIGKILL').catch(() => {});
      this.exitCode = 'killed';
      return this.exitCode;
    }
  }

  logs() {
    let stderr = '';
    try { stderr = readFileSync(this.stderrPath, 'utf8').slice(-20000); } catch { /* none */ }
    return `---- admin commands ----\n${this.adminLog.join('\n')}\n---- server stdout ----\n`
      + `${this.stdoutLines.join('\n')}\n---- server stderr (tail) ----\n${stderr}`;
  }

  async cleanup() {
    await this.stop();
    rmSync(this.tmp, { recursive: true, force: true });
  }
}

// A loopback HTTP server standing in for the relying party's redirect_uri: records each callback.
export async function startCallbackServer() {
  const hits = [];
  const waiters = [];
  const srv = http.createServer((req, res) => {
    const url = new URL(req.url, `http://${req.headers.host}`);
    hits.push(url);
    waiters.splice(0).forEach((w) => w(url));
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', Connection: 'close' });
    const landed = url.searchParams.has('code') ? 'Signed in' : 'Sign-in failed';
    res.end(`<!doctype html><html><head><title>Callback</title></head><body><h1>${landed}</h1>`
      + '<p>The relying party received the authorization response.</p></body></html>');
  });
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  return {
    port,
    url: `http://127.0.0.1:${port}/callback`,
    hits,
    next: (ms = 15_000) => withTimeout(new Promise((r) => waiters.push(r)), ms, 'the callback'),
    close: () => new Promise((resolve) => { srv.closeAllConnections?.(); srv.close(() => resolve()); }),
  };
}

// fetch that follows no redirect and keeps the cookies of one host.
export class Browserless {
  constructor() { this.cookies = new Map(); }

  async request(url, init = {}) {
    const headers = new Headers(init.headers || {});
    if (this.cookies.size) headers.set('Cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual', signal: AbortSignal.timeout(10_000) });
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const expired = attrs.some((a) => /^\s*max-age\s*=\s*(0|-)/i.test(a));
      if (expired) this.cookies.delete(name); else this.cookies.set(name, pair.slice(eq + 1).trim());
    }
    return res;
  }

  postForm(url, fields) {
    return this.request(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
  }
}

const decodeEntities = (s) => s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos|#39);/gi, (m, e) => {
  const named = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
  if (named[e.toLowerCase()]) return named[e.toLowerCase()];
  if (e[1] === 'x' || e[1] === 'X') return String.fromCodePoint(parseInt(e.slice(2), 16));
  return String.fromCodePoint(parseInt(e.slice(1), 10));
});

function attributes(tag) {
  const out = {};
  const re = /([^\s=<>/"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g;
  const body = tag.replace(/^<\s*\w+/, '').replace(/\/?>$/, '');
  for (const m of body.matchAll(re)) out[m[1].toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  return out;
}

// The POST forms of a page: { action, inputs: {name: value}, types: {name: type}, buttons: [[name, value]] }.
export function postForms(html) {
  const forms = [];
  for (const m of html.matchAll(/<form\b[^>]*>([\s\S]*?)<\/form>/gi)) {
    const formAttrs = attributes(m[0].slice(0, m[0].indexOf('>') + 1));
    if ((formAttrs.method || 'get').toLowerCase() !== 'post') continue;
    const form = { action: formAttrs.action || '', inputs: {}, types: {}, buttons: [] };
    for (const t of m[1].matchAll(/<(input|button)\b[^>]*>/gi)) {
      const a = attributes(t[0]);
      const type = (a.type || (t[1].toLowerCase() === 'button' ? 'submit' : 'text')).toLowerCase();
      if (!a.name) continue;
      if (type === 'submit') form.buttons.push([a.name, a.value ?? '']);
      else { form.inputs[a.name] = a.value ?? ''; form.types[a.name] = type; }
    }
    forms.push(form);
  }
  return forms;
}

// Walks the server's login and consent pages with plain HTTP until a redirect leaves the server.
// Returns the final Location (the redirect_uri with the authorization response).
export async function completeInteraction(agent, server, authorizeUrl, { decision = 'allow', maxSteps = 8 } = {}) {
  let res = await agent.request(authorizeUrl);
  for (let step = 0; step < maxSteps; step++) {
    if (res.status !== 303) throw new Error(`expected 303 from ${res.url}, got ${res.status}: ${(await res.text()).slice(0, 500)}`);
    const location = new URL(res.headers.get('location'), server.issuer);
    if (location.origin !== server.issuer) return location;
    const page = await agent.request(location);
    const html = await page.text();
    if (page.status !== 200) throw new Error(`GET ${location}: ${page.status} ${html.slice(0, 500)}`);
    const forms = postForms(html);
    if (forms.length !== 1) throw new Error(`expected one POST form at ${location}:\n${html.slice(0, 2000)}`);
    const [form] = forms;
    const action = new URL(form.action, location);
    if (form.types.password === 'password') {
      res = await agent.postForm(action, { ...form.inputs, username: server.user.username, password: server.user.password });
    } else {
      res = await agent.postForm(action, { ...form.inputs, decision });
    }
  }
  throw new Error('the interaction did not leave the server');
}
