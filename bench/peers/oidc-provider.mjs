#!/usr/bin/env node
// node-oidc-provider as the benchmark peer, configured for the same scenarios as latchkey-server:
// one confidential client (client_secret_basic), PKCE S256 required, ES256 id_tokens, refresh
// tokens rotated on every use, client_credentials, and its own login/consent pages driven through
// the interaction endpoints (a session plus a remembered grant give the SSO flow). In-memory store,
// as oidc-provider ships it. The password check is a constant-time compare, not a password hash:
// the peer's figures are the ones the issue quotes ("no password check").
//
//   node oidc-provider.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI USERNAME PASSWORD
// Prints "listening on http://127.0.0.1:PORT" once it answers.
//
// oidc-provider is imported from bench/peers/node_modules when `npm ci` was run here, and
// otherwise from tests/interop/node_modules (same pinned version), so the benchmark needs no
// second install.
import { createServer } from 'node:http';
import { existsSync } from 'node:fs';
import { generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';

const here = new URL('.', import.meta.url);
const local = new URL('node_modules/oidc-provider/lib/index.js', here);
const shared = new URL('../../tests/interop/node_modules/oidc-provider/lib/index.js', here);
const { default: Provider } = await import(existsSync(local) ? local.href : shared.href);

const [port, clientId, clientSecret, redirectUri, username, password] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const ACCOUNT = 'bench-user';

const sameString = (a, b) => {
  const x = Buffer.from(String(a));
  const y = Buffer.from(String(b));
  return x.length === y.length && timingSafeEqual(x, y);
};
const page = (title, body) => `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title></head><body>${body}</body></html>`;

const es = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    token_endpoint_auth_method: 'client_secret_basic',
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types: ['code'],
    id_token_signed_response_alg: 'ES256',
  }],
  jwks: { keys: [{ ...es, kid: 'bench-es256', alg: 'ES256', use: 'sig' }] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  pkce: { required: () => true },
  scopes: ['openid', 'offline_access', 'profile', 'email'],
  claims: { openid: ['sub'], profile: ['name'], email: ['email'] },
  // Same policy as latchkey: every code exchange for this client gets a refresh token, and each
  // use rotates it (RFC 9700 §4.14.2).
  issueRefreshToken: async () => true,
  rotateRefreshToken: () => true,
  ttl: { AccessToken: 600, IdToken: 600, Interaction: 300, Session: 3600, Grant: 3600, RefreshToken: 3600, ClientCredentials: 600 },
  findAccount: async (_ctx, id) => ({ accountId: id, claims: async () => ({ sub: id, name: 'Bench User' }) }),
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  features: { devInteractions: { enabled: false }, clientCredentials: { enabled: true } },
});

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return Object.fromEntries(new URLSearchParams(body));
}

async function interaction(req, res) {
  const send = (status, html) => { res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }); res.end(html); };
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt, params } = details;
  const action = `/interaction/${uid}`;
  if (req.method === 'GET') {
    if (prompt.name === 'login') {
      return send(200, page('Sign in', `<form method="post" action="${action}"><input type="hidden" name="step" value="login">
<input name="username"><input name="password" type="password"><button type="submit">Sign in</button></form>`));
    }
    return send(200, page('Authorize', `<form method="post" action="${action}"><input type="hidden" name="step" value="consent">
<button type="submit" name="decision" value="allow">Allow</button><button type="submit" name="decision" value="deny">Deny</button></form>`));
  }
  const form = await readForm(req);
  if (form.step === 'login') {
    if (!(sameString(form.username, username) && sameString(form.password, password))) return send(401, page('Sign in', 'wrong password'));
    return provider.interactionFinished(req, res, { login: { accountId: ACCOUNT } }, { mergeWithLastSubmission: false });
  }
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  return provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
}

const callback = provider.callback();
const server = createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => { res.writeHead(500); res.end(String(err)); });
  } else {
    callback(req, res);
  }
});
server.keepAliveTimeout = 60_000;
server.listen(Number(port), '127.0.0.1', () => console.log(`listening on ${issuer}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
