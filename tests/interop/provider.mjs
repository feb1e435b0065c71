#!/usr/bin/env node
// An independent, ordinary OpenID Provider for the interop tests: node's oidc-provider on a
// loopback port, configured the way a deployment would be (its own login and consent pages with
// a password check, PKCE required, the device flow, revocation, refresh tokens under the library's
// default policy: offline_access granted with prompt=consent, OIDC Core §11). Nothing in it knows
// about latchkey.
//
//   node provider.mjs [PORT]   (0 or absent: any free port)
// Prints one JSON line on stdout once it listens: {"issuer":..., "username":..., "password":...}.
// Env: INTEROP_ACCESS_TOKEN_TTL (seconds, default 600).
import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';
import Provider from 'oidc-provider';

export const CLIENT_ID = 'latchkey-cli';
const USER = {
  accountId: 'a1b2c3-alice',
  username: 'alice',
  password: randomBytes(12).toString('base64url'),
  claims: { name: 'Alice Interop', email: 'alice@interop.example', email_verified: true },
};

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title, body) => `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;

function sameString(a, b) {
  const x = Buffer.from(String(a));
  const y = Buffer.from(String(b));
  return x.length === y.length && timingSafeEqual(x, y);
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 64 * 1024) throw new Error('form too large');
  }
  return Object.fromEntries(new URLSearchParams(body));
}

function configuration() {
  // Keys are made at start: ES256 for id_tokens (oidc-provider's default alg is RS256, so both are listed).
  const es = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  const rs = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  return {
    clients: [{
      client_id: CLIENT_ID,
      client_name: 'latchkey CLI',
      // RFC 8252 §7.3: a native app's loopback redirect matches on any port (oidc-provider applies
      // this to application_type native).
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      redirect_uris: ['http://127.0.0.1/callback'],
      grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
      response_types: ['code'],
      id_token_signed_response_alg: 'ES256',
    }],
    jwks: { keys: [{ ...es, kid: 'interop-es256', alg: 'ES256', use: 'sig' }, { ...rs, kid: 'interop-rs256', alg: 'RS256', use: 'sig' }] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    pkce: { required: () => true },
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
    ttl: {
      AccessToken: Number(process.env.INTEROP_ACCESS_TOKEN_TTL || 600),
      IdToken: 600,
      DeviceCode: 300,
      Interaction: 300,
      Session: 3600,
      Grant: 3600,
      RefreshToken: 3600,
    },
    findAccount: async (_ctx, id) => (id === USER.accountId
      ? { accountId: id, claims: async () => ({ sub: id, ...USER.claims }) }
      : undefined),
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      deviceFlow: {
        enabled: true,
        userCodeInputSource: async (ctx, form, _out, err) => {
          ctx.body = page('Device login', `${err ? '<p class="error">That code did not work.</p>' : ''}${form}
<button type="submit" form="op.deviceInputForm">Continue</button>`);
        },
        userCodeConfirmSource: async (ctx, form, client, _deviceInfo, userCode) => {
          ctx.body = page('Confirm device', `<p>${escapeHtml(client.clientName || client.clientId)} shows the code <code>${escapeHtml(userCode)}</code>.</p>${form}
<button type="submit" form="op.deviceConfirmForm">Continue</button>
<button type="submit" form="op.deviceConfirmForm" name="abort" value="yes">Abort</button>`);
        },
        successSource: async (ctx) => { ctx.body = page('Device login complete', '<p>You may close this page.</p>'); },
      },
    },
  };
}

// The provider's own login and consent pages (what devInteractions stands in for in development).
async function interaction(provider, req, res) {
  const send = (status, html) => { res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }); res.end(html); };
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt, params } = details;
  const action = `/interaction/${encodeURIComponent(uid)}`;
  if (req.method === 'GET') {
    if (prompt.name === 'login') {
      return send(200, page('Sign in', `<form method="post" action="${action}" autocomplete="off">
<input type="hidden" name="step" value="login">
<label>Username <input name="username" required></label>
<label>Password <input name="password" type="password" required></label>
<button type="submit">Sign in</button></form>`));
    }
    if (prompt.name === 'consent') {
      return send(200, page('Authorize', `<p>${escapeHtml(params.client_id)} asks for: ${escapeHtml(params.scope || '')}</p>
<form method="post" action="${action}"><input type="hidden" name="step" value="consent">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button></form>`));
    }
    return send(501, page('Unsupported', `<p>prompt ${escapeHtml(prompt.name)}</p>`));
  }
  const form = await readForm(req);
  if (form.step === 'login' && prompt.name === 'login') {
    if (!(sameString(form.username, USER.username) && sameString(form.password, USER.password))) {
      return send(200, page('Sign in', `<p class="error">Wrong username or password.</p>
<form method="post" action="${action}"><input type="hidden" name="step" value="login">
<label>Username <input name="username" required></label>
<label>Password <input name="password" type="password" required></label>
<button type="submit">Sign in</button></form>`));
    }
    return provider.interactionFinished(req, res, { login: { accountId: USER.accountId } }, { mergeWithLastSubmission: false });
  }
  if (form.step === 'consent' && prompt.name === 'consent') {
    if (form.decision !== 'allow') {
      return provider.interactionFinished(req, res,
        { error: 'access_denied', error_description: 'the user denied the request' }, { mergeWithLastSubmission: false });
    }
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    if (prompt.details.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes)) grant.addResourceScope(indicator, scopes.join(' '));
    }
    return provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
  }
  return send(400, page('Bad request', '<p>This step does not match the interaction.</p>'));
}

export async function startProvider(port = 0) {
  let handler = (_req, res) => { res.writeHead(503); res.end(); };
  const server = createServer((req, res) => handler(req, res));
  await new Promise((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', resolve); });
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, configuration());
  provider.on('server_error', (_ctx, err) => console.error('provider server_error:', err));
  const callback = provider.callback();
  handler = (req, res) => {
    if (req.url.startsWith('/interaction/')) {
      interaction(provider, req, res).catch((err) => {
        console.error('interaction error:', err);
        if (!res.headersSent) { res.writeHead(400, { 'content-type': 'text/plain' }); res.end(`interaction failed: ${err.message}\n`); }
      });
      return;
    }
    callback(req, res);
  };
  return { server, issuer, username: USER.username, password: USER.password };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { server, issuer, username, password } = await startProvider(Number(process.argv[2] || 0));
  process.stdout.write(`${JSON.stringify({ issuer, username, password })}\n`);
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
