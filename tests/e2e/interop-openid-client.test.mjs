// openid-client (an independent, certified relying party library) against latchkey-server:
// discovery, authorization code + PKCE S256 + state + nonce, the code exchange, and its id_token
// validation. The access token is checked with jose's JWT verifier against the JWKS (RFC 9068).
// The login and consent pages are walked with plain fetch and a hand-kept cookie jar.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { Server, Browserless, completeInteraction } from './harness.mjs';

const insecureLoopback = { execute: [oidc.allowInsecureRequests] };  // http://127.0.0.1 issuer in tests
let server;
let passed = 0;

before(async () => {
  server = new Server({ confidentialRedirectUris: ['http://127.0.0.1:9/rp-callback'] });
  await server.start();
});

after(async () => {
  if (!server) return;
  const code = await server.stop();
  if (code !== 0 || passed !== 3) process.stderr.write(`\n==== server logs ====\n${server.logs()}\n`);
  await server.cleanup();
  assert.equal(code, 0, 'latchkey-server exits 0 on SIGTERM');
});

async function signIn(config, redirectUri, scope, agent = new Browserless()) {
  const codeVerifier = oidc.randomPKCECodeVerifier();
  const codeChallenge = await oidc.calculatePKCECodeChallenge(codeVerifier);
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri, scope, state, nonce,
    code_challenge: codeChallenge, code_challenge_method: 'S256',
  });
  const callbackUrl = await completeInteraction(agent, server, url);
  return { callbackUrl, codeVerifier, state, nonce, agent };
}

test('confidential client (client_secret_basic): discovery, PKCE, code grant, id_token validated', { timeout: 60_000 }, async () => {
  const c = server.confidential;
  const config = await oidc.discovery(new URL(server.issuer), c.clientId, undefined,
    oidc.ClientSecretBasic(c.secret), insecureLoopback);
  const meta = config.serverMetadata();
  assert.equal(meta.issuer, server.issuer);
  assert.ok(meta.supportsPKCE('S256'));

  const redirectUri = c.redirectUris[1];
  const flow = await signIn(config, redirectUri, 'openid profile email offline_access');
  assert.equal(flow.callbackUrl.searchParams.get('iss'), server.issuer);

  // Validates state, iss (RFC 9207), the id_token signature, iss, aud, exp, iat, nonce, at_hash...
  const tokens = await oidc.authorizationCodeGrant(config, flow.callbackUrl, {
    pkceCodeVerifier: flow.codeVerifier, expectedState: flow.state, expectedNonce: flow.nonce,
    idTokenExpected: true,
  });
  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  assert.ok(tokens.refresh_token, 'offline_access was granted');
  const claims = tokens.claims();
  assert.equal(claims.iss, server.issuer);
  assert.equal(claims.nonce, flow.nonce);
  assert.ok(claims.sub);
  assert.ok([claims.aud].flat().includes(c.clientId));
  assert.equal(typeof claims.auth_time, 'number');

  // RFC 9068 access token, checked by jose against the JWKS from discovery.
  const jwks = createRemoteJWKSet(new URL(meta.jwks_uri));
  const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks, {
    issuer: server.issuer, typ: 'at+jwt', algorithms: ['ES256'],
  });
  assert.equal(protectedHeader.alg, 'ES256');
  assert.equal(payload.sub, claims.sub);
  assert.equal(payload.client_id, c.clientId);
  assert.deepEqual(new Set(payload.scope.split(' ')), new Set(['openid', 'profile', 'email', 'offline_access']));
  for (const k of ['aud', 'exp', 'iat', 'jti', 'auth_time']) assert.ok(payload[k] !== undefined, `access token lacks ${k}`);
  passed++;
});

test('public client (none) with a loopback redirect on an ephemeral port', { timeout: 60_000 }, async () => {
  const p = server.public;
  const config = await oidc.discovery(new URL(server.issuer), p.clientId, undefined, oidc.None(), insecureLoopback);
  const flow = await signIn(config, 'http://127.0.0.1:49152/callback', 'openid profile');
  const tokens = await oidc.authorizationCodeGrant(config, flow.callbackUrl, {
    pkceCodeVerifier: flow.codeVerifier, expectedState: flow.state, expectedNonce: flow.nonce,
    idTokenExpected: true,
  });
  assert.equal(tokens.claims().aud, p.clientId);
  assert.equal(tokens.refresh_token, undefined, 'no offline_access, no refresh_token');
  passed++;
});

test('openid-client rejects what it must: a replayed code and a wrong verifier', { timeout: 60_000 }, async () => {
  const c = server.confidential;
  const config = await oidc.discovery(new URL(server.issuer), c.clientId, undefined,
    oidc.ClientSecretBasic(c.secret), insecureLoopback);
  const flow = await signIn(config, c.redirectUris[1], 'openid');
  await assert.rejects(
    oidc.authorizationCodeGrant(config, flow.callbackUrl, {
      pkceCodeVerifier: oidc.randomPKCECodeVerifier(), expectedState: flow.state, expectedNonce: flow.nonce,
    }),
    (err) => err.error === 'invalid_grant' || err.cause?.error === 'invalid_grant',
  );
  // A fresh code, used twice.
  const flow2 = await signIn(config, c.redirectUris[1], 'openid', flow.agent);
  const checks = { pkceCodeVerifier: flow2.codeVerifier, expectedState: flow2.state, expectedNonce: flow2.nonce };
  await oidc.authorizationCodeGrant(config, flow2.callbackUrl, checks);
  await assert.rejects(oidc.authorizationCodeGrant(config, flow2.callbackUrl, checks),
    (err) => err.error === 'invalid_grant' || err.cause?.error === 'invalid_grant');
  passed++;
});
