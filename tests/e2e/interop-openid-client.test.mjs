// openid-client (an independent, certified relying party library) against latchkey-server:
// discovery, authorization code + PKCE S256 + state + nonce, the code exchange, and its id_token
// validation. The access token is checked with jose's JWT verifier against the JWKS (RFC 9068).
// The login and consent pages are walked with plain fetch and a hand-kept cookie jar.
// Then the token lifecycle through openid-client: refreshTokenGrant (rotation, a fresh id_token),
// fetchUserInfo, tokenIntrospection and tokenRevocation, and refresh token reuse detection.
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
  if (code !== 0 || passed !== 5) process.stderr.write(`\n==== server logs ====\n${server.logs()}\n`);
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

const isInvalidGrant = (err) => err.error === 'invalid_grant' || err.cause?.error === 'invalid_grant';

async function confidentialConfig() {
  const c = server.confidential;
  return oidc.discovery(new URL(server.issuer), c.clientId, undefined, oidc.ClientSecretBasic(c.secret),
    insecureLoopback);
}

async function signedInTokens(config, scope, agent) {
  const flow = await signIn(config, server.confidential.redirectUris[1], scope, agent);
  const tokens = await oidc.authorizationCodeGrant(config, flow.callbackUrl, {
    pkceCodeVerifier: flow.codeVerifier, expectedState: flow.state, expectedNonce: flow.nonce,
    idTokenExpected: true,
  });
  return { tokens, agent: flow.agent };
}

test('refreshTokenGrant, fetchUserInfo, tokenIntrospection and tokenRevocation', { timeout: 60_000 }, async () => {
  const c = server.confidential;
  const config = await confidentialConfig();
  const meta = config.serverMetadata();
  for (const k of ['userinfo_endpoint', 'revocation_endpoint', 'introspection_endpoint']) {
    assert.ok(meta[k]?.startsWith(server.issuer + '/'), `discovery lacks ${k}`);
  }
  const { tokens } = await signedInTokens(config, 'openid profile email offline_access');
  const first = tokens.claims();

  // Refresh: openid-client checks the new id_token's iss, aud, exp, iat and that sub is unchanged.
  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
  assert.ok(refreshed.refresh_token, 'a refresh returns a new refresh token');
  assert.notEqual(refreshed.refresh_token, tokens.refresh_token, 'the refresh token rotated');
  assert.notEqual(refreshed.access_token, tokens.access_token);
  assert.ok(refreshed.id_token, 'a refresh with openid returns an id_token');
  const claims = refreshed.claims();
  assert.equal(claims.sub, first.sub);
  assert.equal(claims.auth_time, first.auth_time, 'OIDC Core §12.2: auth_time is kept');
  // Its signature, verified by jose against the JWKS (openid-client trusts TLS for that).
  const jwks = createRemoteJWKSet(new URL(meta.jwks_uri));
  const { payload: idPayload, protectedHeader } = await jwtVerify(refreshed.id_token, jwks, {
    issuer: server.issuer, audience: c.clientId, algorithms: ['ES256'],
  });
  assert.notEqual(protectedHeader.typ, 'at+jwt');
  assert.equal(idPayload.sub, first.sub);

  // UserInfo with the refreshed access token; openid-client checks that sub matches.
  const info = await oidc.fetchUserInfo(config, refreshed.access_token, claims.sub);
  assert.equal(info.sub, claims.sub);
  assert.equal(info.preferred_username, server.user.username);
  assert.equal(info.name, server.user.name);
  assert.equal(info.email, server.user.email);

  // Introspection (the confidential client authenticates with client_secret_basic).
  const active = await oidc.tokenIntrospection(config, refreshed.access_token);
  assert.equal(active.active, true);
  assert.equal(active.sub, claims.sub);
  assert.equal(active.client_id, c.clientId);
  assert.equal((await oidc.tokenIntrospection(config, refreshed.refresh_token)).active, true);

  // Revoking the refresh token revokes the grant (RFC 7009 §2.1): both tokens inactive.
  await oidc.tokenRevocation(config, refreshed.refresh_token, { token_type_hint: 'refresh_token' });
  assert.deepEqual(await oidc.tokenIntrospection(config, refreshed.refresh_token), { active: false });
  assert.deepEqual(await oidc.tokenIntrospection(config, refreshed.access_token), { active: false });
  await assert.rejects(oidc.fetchUserInfo(config, refreshed.access_token, claims.sub),
    (err) => err.status === 401 || err.cause?.status === 401 || /invalid_token/.test(String(err.message)));
  await assert.rejects(oidc.refreshTokenGrant(config, refreshed.refresh_token), isInvalidGrant);

  // Revoking an access token alone: it goes inactive, its grant's refresh token lives on.
  const { tokens: second } = await signedInTokens(config, 'openid offline_access');
  await oidc.tokenRevocation(config, second.access_token, { token_type_hint: 'access_token' });
  assert.deepEqual(await oidc.tokenIntrospection(config, second.access_token), { active: false });
  assert.equal((await oidc.tokenIntrospection(config, second.refresh_token)).active, true);
  passed++;
});

test('openid-client sees reuse detection: a rotated-away refresh token kills the grant', { timeout: 60_000 }, async () => {
  const config = await confidentialConfig();
  const { tokens } = await signedInTokens(config, 'openid offline_access');
  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
  assert.equal((await oidc.tokenIntrospection(config, refreshed.access_token)).active, true);
  await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token), isInvalidGrant);
  // RFC 9700 §4.14.2: the whole grant is revoked, the newest tokens included.
  assert.deepEqual(await oidc.tokenIntrospection(config, refreshed.access_token), { active: false });
  await assert.rejects(oidc.refreshTokenGrant(config, refreshed.refresh_token), isInvalidGrant);
  passed++;
});
