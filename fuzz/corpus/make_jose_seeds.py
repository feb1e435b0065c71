#!/usr/bin/python3
"""Regenerates the seeds of fuzz/corpus/jwt and fuzz/corpus/jwk from the fixed test keys in
fuzz/test_keys.h (python3-jwcrypto, Debian's). Run from fuzz/: /usr/bin/python3 corpus/make_jose_seeds.py"""
import json
import re

from jwcrypto import jwk, jwt

src = open('test_keys.h').read()
es = jwk.JWK.from_pem(re.search(r'kEs256Pem = R"\(\n(.*?)\)";', src, re.S).group(1).encode())
rs = jwk.JWK.from_pem(re.search(r'kRs256Pem = R"\(\n(.*?)\)";', src, re.S).group(1).encode())


def sign(key, alg, kid, claims, extra=None):
    header = {"alg": alg}
    if kid:
        header["kid"] = kid
    header.update(extra or {})
    token = jwt.JWT(header=header, claims=claims)
    token.make_signed_token(key)
    return token.serialize()


def write(path, text):
    with open(path, 'w') as f:
        f.write(text)


claims = {"iss": "https://id.example.com", "sub": "sub-alice", "aud": "https://api.example.com",
          "exp": 1700003600, "iat": 1700000000, "scope": "openid read", "client_id": "cli", "jti": "j1"}
write('corpus/jwt/es256_access', sign(es, "ES256", "es-1", claims, {"typ": "at+jwt"}))
write('corpus/jwt/rs256_id_token', sign(rs, "RS256", "rs-1", dict(claims, nonce="n-0S6")))
write('corpus/jwt/es256_no_kid', sign(es, "ES256", None, {"sub": "x", "exp": 1}))
write('corpus/jwt/crit', sign(es, "ES256", "es-1", {"sub": "x"}, {"crit": ["b64"], "b64": True}))
write('corpus/jwt/alg_none', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.')
write('corpus/jwt/hs256_confusion', 'eyJhbGciOiJIUzI1NiIsImtpZCI6InJzLTEifQ.eyJzdWIiOiJ4In0.c2lnbmF0dXJl')

pub_es = dict(json.loads(es.export_public()), kid="es-1", alg="ES256", use="sig")
pub_rs = dict(json.loads(rs.export_public()), kid="rs-1", alg="RS256", use="sig")
write('corpus/jwk/jwks_two', json.dumps({"keys": [pub_es, pub_rs]}))
write('corpus/jwk/jwk_es', json.dumps(pub_es))
write('corpus/jwk/jwks_skipped', json.dumps({"keys": [
    dict(pub_rs, use="enc"), {"kty": "oct", "k": "AAAA"},
    {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}, pub_es]}))
write('corpus/jwk/private_refused', json.dumps({"keys": [dict(json.loads(es.export_private()), kid="p")]}))
write('corpus/jwk/off_curve', json.dumps({"keys": [dict(pub_es, x=pub_es["x"][:-2] + "AA")]}))
write('corpus/jwk/not_jwks', '{"keys":{"kty":"EC"},"x":[1,2,3]}')
