"""Authentication and authorization against the real binary, with tokens made
by PyJWT (and, where PyJWT rightly refuses to make a bad token, by hand with
hmac/base64) and keys generated at test time with `cryptography`.

- Every algorithm of DESIGN.md through a PEM public key, a JWKS file with
  two keys chosen by kid, and HMAC secrets.
- The negative JWT suite: each bad token gets the right error code and
  message on the connect reply, then disconnect 3003 (3004 if expired); the
  server is alive and answers an honest connect quickly afterwards.
- Namespace rules (claims with globs, subscription tokens), user-limited
  channels, refresh, publishes per second per user, and JWKS URL rotation.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import os
import pathlib
import threading
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from conftest import HeraldServer
from helpers import NativeClient, api_ok, assert_disconnected, unique
from test_http import metric_samples

SECRET = "e2e-hmac-secret-" + "0123456789abcdef" * 4
AUD = "herald-e2e"
ISS = "https://issuer.e2e"


# ----- keys and tokens -------------------------------------------------------

@pytest.fixture(scope="module")
def keys():
    return {
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "rsa2": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "p256": ec.generate_private_key(ec.SECP256R1()),
        "p384": ec.generate_private_key(ec.SECP384R1()),
        "ed25519": ed25519.Ed25519PrivateKey.generate(),
    }


def public_pem(private_key) -> bytes:
    return private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)


def jwk(private_key, kid: str, alg: str) -> dict:
    pub = private_key.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        key = RSAAlgorithm.to_jwk(pub, as_dict=True)
    elif isinstance(pub, ec.EllipticCurvePublicKey):
        key = ECAlgorithm.to_jwk(pub, as_dict=True)
    else:
        key = OKPAlgorithm.to_jwk(pub, as_dict=True)
    return {**key, "kid": kid, "use": "sig", "alg": alg}


def claims(user: str = "42", ttl: int | None = 3600, **extra) -> dict:
    now = int(time.time())
    c = {"sub": user, "iat": now, **extra}
    if ttl is not None:
        c["exp"] = now + ttl
    return c


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs_token(header: dict | bytes, payload: dict | bytes, secret: bytes | str, digest=hashlib.sha256) -> str:
    """A token signed by hand, for what PyJWT refuses to make (HS256 keyed
    with a PEM public key, malformed JSON with a valid signature)."""
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    p = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signing_input = f"{b64(h)}.{b64(p)}".encode()
    key = secret.encode() if isinstance(secret, str) else secret
    return f"{signing_input.decode()}.{b64(hmac.new(key, signing_input, digest).digest())}"


def write(directory: pathlib.Path, name: str, data: bytes | str) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return str(path)


def auth_server(herald_factory, tmp_path, auth: str, extra: str = "", **kw) -> HeraldServer:
    return herald_factory(config=f"[auth]\n{auth}\n{extra}", anonymous=False, **kw)


def connect_ok(server, token: str, timeout: float = 5.0) -> NativeClient:
    c = NativeClient(server)
    c.connect({"token": token})
    return c


def assert_connect_refused(server, token: str, code: int, message: str, close: int) -> None:
    with NativeClient(server) as c:
        reply = c.call("connect", {"token": token})
        err = reply.get("error")
        assert err and err["code"] == code and err["message"] == message, \
            f"want error {code} {message!r}, got {reply!r}"
        assert_disconnected(c, close, reconnect=close == 3004)


# ----- positive: every algorithm ------------------------------------------------

@pytest.mark.parametrize("alg,key_name", [
    ("RS256", "rsa"), ("RS384", "rsa"), ("RS512", "rsa"),
    ("ES256", "p256"), ("ES384", "p384"), ("EdDSA", "ed25519"),
])
def test_public_key_file_algorithms(herald_factory, tmp_path, keys, alg, key_name):
    pem = write(tmp_path / "keys", "public.pem", public_pem(keys[key_name]))
    server = auth_server(herald_factory, tmp_path, f'public_key_file = "{pem}"')
    token = jwt.encode(claims("u-" + alg), keys[key_name], algorithm=alg)
    with connect_ok(server, token) as c:
        assert c.user == "u-" + alg
    # The same key's family, another key: refused.
    other = {"rsa": "rsa2", "p256": "p384", "p384": "p256", "ed25519": "rsa"}[key_name]
    other_alg = {"rsa2": alg, "p384": "ES384", "p256": "ES256", "rsa": "RS256"}[other]
    bad = jwt.encode(claims(), keys[other], algorithm=other_alg)
    assert_connect_refused(server, bad, 101,
                           "invalid signature" if other == "rsa2" else "algorithm does not match the key", 3003)


def test_jwks_file_selects_the_key_by_kid(herald_factory, tmp_path, keys):
    jwks = {"keys": [jwk(keys["rsa"], "k-rsa", "RS256"), jwk(keys["p256"], "k-ec", "ES256")]}
    path = write(tmp_path / "keys", "jwks.json", json.dumps(jwks))
    server = auth_server(herald_factory, tmp_path, f'jwks_file = "{path}"')
    t1 = jwt.encode(claims("rsa-user"), keys["rsa"], algorithm="RS256", headers={"kid": "k-rsa"})
    t2 = jwt.encode(claims("ec-user"), keys["p256"], algorithm="ES256", headers={"kid": "k-ec"})
    with connect_ok(server, t1) as a, connect_ok(server, t2) as b:
        assert (a.user, b.user) == ("rsa-user", "ec-user")
    # The RSA token under the EC key's kid: the kid picks the key, not the token.
    swapped = jwt.encode(claims(), keys["rsa"], algorithm="RS256", headers={"kid": "k-ec"})
    assert_connect_refused(server, swapped, 101, "algorithm does not match the key", 3003)
    # Two keys and no kid: which one is not guessed.
    no_kid = jwt.encode(claims(), keys["rsa"], algorithm="RS256")
    assert_connect_refused(server, no_kid, 101, "unknown key id", 3003)


def test_hs256_keyed_with_the_rsa_public_key_is_refused(herald_factory, tmp_path, keys):
    """The algorithm-confusion attack against a server that holds only an RSA
    public key: the key type must match the algorithm family."""
    rsa_pem = public_pem(keys["rsa"])
    pem = write(tmp_path / "keys", "rsa.pem", rsa_pem)
    server = auth_server(herald_factory, tmp_path, f'public_key_file = "{pem}"')
    for pem_text in (rsa_pem, rsa_pem.strip()):
        forged = hs_token({"alg": "HS256", "typ": "JWT"}, claims(), pem_text)
        assert_connect_refused(server, forged, 101, "algorithm does not match the key", 3003)
    with connect_ok(server, jwt.encode(claims(), keys["rsa"], algorithm="RS256")):
        pass


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_hmac_algorithms(herald_factory, tmp_path, alg):
    server = auth_server(herald_factory, tmp_path, f'hmac_secret = "{SECRET}"')
    with connect_ok(server, jwt.encode(claims("h"), SECRET, algorithm=alg)) as c:
        assert c.user == "h"
    assert_connect_refused(server, jwt.encode(claims(), SECRET[::-1], algorithm=alg), 101,
                           "invalid signature", 3003)


# ----- the negative suite -----------------------------------------------------------

def token_of_length(length: int, sign) -> str:
    """A valid token exactly `length` bytes long: a padding claim and a padding
    header field are grown until the encoded lengths add up."""
    for header_pad in range(4):
        for pad in range(length):
            token = sign({"alg": "HS256", "typ": "JWT", "x": "h" * header_pad}, claims(pad="p" * pad))
            if len(token) == length:
                return token
            if len(token) > length:
                break
    raise AssertionError(f"no token of exactly {length} bytes")


def test_negative_jwt_suite(herald_factory, tmp_path, keys):
    rsa_pem = public_pem(keys["rsa"])
    pem = write(tmp_path / "keys", "rsa.pem", rsa_pem)
    jwks = write(tmp_path / "keys", "jwks.json", json.dumps({"keys": [jwk(keys["p256"], "ec1", "ES256")]}))

    def good(**extra):
        return claims(aud=AUD, iss=ISS, **extra)

    def sign(header: dict, payload: dict) -> str:
        return hs_token(header, {**payload, "aud": AUD, "iss": ISS}, SECRET)

    limit = len(sign({"alg": "HS256", "typ": "JWT"}, claims(pad="p" * 700)))
    server = auth_server(herald_factory, tmp_path,
                         f'hmac_secret = "{SECRET}"\npublic_key_file = "{pem}"\njwks_file = "{jwks}"\n'
                         f'audience = "{AUD}"\nissuer = "{ISS}"\nmax_token_bytes = {limit}')
    now = int(time.time())
    head = b64(b'{"alg":"HS256","typ":"JWT"}')
    broken_head = b64(b'{"alg":"HS256"')
    body = b64(json.dumps(good()).encode())
    cases = [
        ("alg none", jwt.encode(good(), None, algorithm="none"), 101, "unsupported algorithm"),
        ("alg None spelled otherwise", hs_token({"alg": "NONE"}, good(), SECRET), 101, "unsupported algorithm"),
        # The classic confusion attack: the RSA public key as an HMAC secret.
        ("HS256 keyed with the RSA public key", hs_token({"alg": "HS256"}, good(), rsa_pem), 101,
         "invalid signature"),
        ("wrong signature", jwt.encode(good(), SECRET[::-1], algorithm="HS256"), 101, "invalid signature"),
        ("RS256 signed by another key", jwt.encode(good(), keys["rsa2"], algorithm="RS256"), 101,
         "invalid signature"),
        ("expired", jwt.encode({**good(), "exp": now - 10}, SECRET, algorithm="HS256"), 109, "token expired"),
        ("not yet valid", jwt.encode(good(nbf=now + 60), SECRET, algorithm="HS256"), 101, "token not yet valid"),
        ("wrong aud", jwt.encode({**good(), "aud": "someone-else"}, SECRET, algorithm="HS256"), 101,
         "invalid audience"),
        ("no aud", jwt.encode(claims(iss=ISS), SECRET, algorithm="HS256"), 101, "invalid audience"),
        ("wrong iss", jwt.encode({**good(), "iss": "https://evil"}, SECRET, algorithm="HS256"), 101,
         "invalid issuer"),
        ("unknown kid", jwt.encode(good(), keys["p256"], algorithm="ES256", headers={"kid": "nope"}), 101,
         "unknown key id"),
        ("malformed base64", f"{head}.{body[:-3]}!!*.c2ln", 101, "malformed token"),
        ("two segments", f"{head}.{body}", 101, "malformed token"),
        ("malformed JSON header", f"{broken_head}.{body}.c2ln", 101, "malformed token"),
        ("header not an object", f"{b64(b'[1]')}.{body}.c2ln", 101, "malformed token"),
        ("malformed JSON payload, signed", hs_token({"alg": "HS256"}, b'{"sub":"42",', SECRET), 101,
         "malformed token"),
        ("claim of the wrong type", hs_token({"alg": "HS256"}, {**good(), "exp": "tomorrow"}, SECRET), 101,
         "malformed token"),
        ("over max_token_bytes", token_of_length(limit + 1, sign), 101, "token too large"),
        ("far over max_token_bytes", "a" * 60000, 101, "token too large"),
    ]
    for name, token, code, message in cases:
        try:
            assert_connect_refused(server, token, code, message, 3004 if code == 109 else 3003)
        except AssertionError as e:
            raise AssertionError(f"case {name!r}: {e}") from None
    server.assert_alive()
    # Exactly at the limit, and every valid kind of token: accepted, quickly.
    at_limit = token_of_length(limit, sign)
    assert len(at_limit) == limit
    t0 = time.monotonic()
    for token in (at_limit, jwt.encode(good(), SECRET, algorithm="HS256"),
                  jwt.encode(good(), keys["rsa"], algorithm="RS256"),
                  jwt.encode(good(), keys["p256"], algorithm="ES256", headers={"kid": "ec1"})):
        with connect_ok(server, token) as c:
            assert c.user == "42"
    assert time.monotonic() - t0 < 2.0
    samples = metric_samples(server)
    assert samples.get('herald_rejections_total{reason="unauthorized"}', 0) >= len(cases)


def test_leeway_accepts_a_just_expired_token(herald_factory, tmp_path):
    just_expired = jwt.encode({**claims(), "exp": int(time.time()) - 5}, SECRET, algorithm="HS256")
    strict = auth_server(herald_factory, tmp_path, f'hmac_secret = "{SECRET}"')
    assert_connect_refused(strict, just_expired, 109, "token expired", 3004)
    lenient = auth_server(herald_factory, tmp_path, f'hmac_secret = "{SECRET}"\nleeway = 30')
    with connect_ok(lenient, just_expired) as c:
        assert c.user == "42"
    long_expired = jwt.encode({**claims(), "exp": int(time.time()) - 60}, SECRET, algorithm="HS256")
    assert_connect_refused(lenient, long_expired, 109, "token expired", 3004)
    soon_valid = jwt.encode(claims(nbf=int(time.time()) + 10), SECRET, algorithm="HS256")
    with connect_ok(lenient, soon_valid):
        pass


# ----- authorization ----------------------------------------------------------------

NAMESPACES = """
[[namespace]]
name = ""
publish = "any"

[[namespace]]
name = "secret"
subscribe = "claims"
publish = "claims"
history_size = 10
presence = true

[[namespace]]
name = "priv"
subscribe = "token"
publish = "subscribers"
history_size = 10
presence = true

[[namespace]]
name = "dm"
publish = "any"
history_size = 10
"""


@pytest.fixture
def authz(herald_factory, tmp_path):
    return auth_server(herald_factory, tmp_path, f'hmac_secret = "{SECRET}"\nallow_anonymous = true', NAMESPACES)


def token(user: str = "42", ttl: int | None = 3600, **extra) -> str:
    return jwt.encode(claims(user, ttl, **extra), SECRET, algorithm="HS256")


def error_code(reply: dict) -> int | None:
    return reply.get("error", {}).get("code")


def test_claims_namespace_follows_the_glob_patterns(authz):
    t = token(channels=["secret:a*", "secret:room?"], publish=["secret:pub*"])
    with connect_ok(authz, t) as c, connect_ok(authz, token()) as plain:
        c.subscribe("secret:abc")
        c.subscribe("secret:a")
        c.subscribe("secret:room1")
        for ch in ("secret:room12", "secret:room", "secret:b", "secret:xa"):
            assert error_code(c.call("subscribe", {"channel": ch})) == 103, ch
        assert error_code(plain.call("subscribe", {"channel": "secret:abc"})) == 103
        # Publish follows "publish", independently of subscriptions.
        assert c.call_ok("publish", {"channel": "secret:pub1", "eventType": "t", "payload": 1})["offset"] == 1
        assert error_code(c.call("publish", {"channel": "secret:abc", "eventType": "t", "payload": 1})) == 103
        # Reads follow subscribe.
        assert "history" in c.call("history", {"channel": "secret:abc"})
        assert "presence" in c.call("presence", {"channel": "secret:abc"})
        assert error_code(c.call("history", {"channel": "secret:b"})) == 103
        assert error_code(plain.call("presence", {"channel": "secret:abc"})) == 103
    with NativeClient(authz) as anon:
        anon.connect()
        assert error_code(anon.call("subscribe", {"channel": "secret:abc"})) == 103
        assert error_code(anon.call("publish", {"channel": "secret:pub1", "eventType": "t", "payload": 1})) == 103


def test_subscription_tokens(authz):
    ch = "priv:" + unique("room")
    with connect_ok(authz, token("42")) as c:
        assert error_code(c.call("subscribe", {"channel": ch})) == 103  # no token
        for bad in (token("42", channel=ch + "x"), token("43", channel=ch),
                    jwt.encode({**claims("42"), "channel": ch}, SECRET[::-1], algorithm="HS256"), "garbage"):
            assert error_code(c.call("subscribe", {"channel": ch, "token": bad})) == 103, bad
        expired = jwt.encode({**claims("42"), "channel": ch, "exp": int(time.time()) - 5}, SECRET,
                             algorithm="HS256")
        assert error_code(c.call("subscribe", {"channel": ch, "token": expired})) == 109
        # Reads of a token namespace need the subscription (there is no token to show).
        assert error_code(c.call("history", {"channel": ch})) == 103
        c.subscribe(ch, token=token("42", channel=ch))
        assert "history" in c.call("history", {"channel": ch})
        assert "presence" in c.call("presence", {"channel": ch})
        api_ok(authz, "publish", {"channel": ch, "eventType": "t", "payload": {"n": 1}})
        assert c.wait_event(ch)["payload"] == {"n": 1}
    # A failed subscribe leaves the connection usable and counts a rejection.
    assert metric_samples(authz).get('herald_rejections_total{reason="permission_denied"}', 0) >= 5


def test_user_limited_channels(authz):
    ch = "dm:" + unique("chat") + "#42,43"
    with connect_ok(authz, token("42")) as a, connect_ok(authz, token("43")) as b, \
            connect_ok(authz, token("44")) as outsider, NativeClient(authz) as anon:
        anon.connect()
        a.subscribe(ch)
        b.subscribe(ch)
        for c in (outsider, anon):
            assert error_code(c.call("subscribe", {"channel": ch})) == 103
            assert error_code(c.call("publish", {"channel": ch, "eventType": "t", "payload": 1})) == 103
            assert error_code(c.call("history", {"channel": ch})) == 103
        assert b.call_ok("publish", {"channel": ch, "eventType": "t", "payload": "hi"})["offset"] == 1
        assert a.wait_event(ch)["payload"] == "hi"
        # The server API is not limited.
        api_ok(authz, "publish", {"channel": ch, "eventType": "t", "payload": "api"})
        assert a.wait_event(ch)["payload"] == "api"
        assert "history" in a.call("history", {"channel": ch})
        # The list overrides namespace rules that would let anyone in, and
        # applies on top of claims and tokens.
        assert error_code(outsider.call("subscribe", {"channel": "open#42"})) == 103
        a.subscribe("open#42")
    claimed = token("44", channels=["secret:*"])
    with connect_ok(authz, claimed) as c:
        assert error_code(c.call("subscribe", {"channel": "secret:x#42"})) == 103
        c.subscribe("secret:x#44")


# ----- refresh -------------------------------------------------------------------------

def test_refresh(authz):
    with connect_ok(authz, token("42", ttl=3)) as refreshed, connect_ok(authz, token("42", ttl=3)) as lapsing:
        assert error_code(refreshed.call("refresh", {})) == 107
        assert error_code(refreshed.call("refresh", {"token": token("43")})) == 103
        expired = jwt.encode({**claims("42"), "exp": int(time.time()) - 5}, SECRET, algorithm="HS256")
        assert error_code(refreshed.call("refresh", {"token": expired})) == 109
        assert error_code(refreshed.call("refresh", {"token": "not.a.token"})) == 103
        ttl = refreshed.call_ok("refresh", {"token": token("42", ttl=60)})["ttl"]
        assert 55 <= ttl <= 60, ttl
        # The lapsing one gets 3004 at its expiry; the refreshed one stays.
        assert_disconnected(lapsing, 3004, timeout=8, push_required=True, reconnect=True)
        refreshed.subscribe(unique("still"))
        # A token without exp: no ttl in the reply, and no expiry.
        assert refreshed.call_ok("refresh", {"token": token("42", ttl=None)}) == {}


def test_failed_refresh_keeps_the_old_expiry(authz):
    with connect_ok(authz, token("42", ttl=2)) as c:
        assert error_code(c.call("refresh", {"token": token("99", ttl=600)})) == 103
        assert_disconnected(c, 3004, timeout=6, reconnect=True)


# ----- publishes per second per user -----------------------------------------------------

def test_publishes_per_second_per_user(herald_factory, tmp_path):
    server = auth_server(herald_factory, tmp_path, f'hmac_secret = "{SECRET}"\nallow_anonymous = true',
                         "[limits]\npublishes_per_second_per_user = 3\n" + NAMESPACES)
    ch = unique("rate")

    def pub(c):
        return c.call("publish", {"channel": ch, "eventType": "t", "payload": 1})

    with connect_ok(server, token("u1")) as a, connect_ok(server, token("u1")) as b, \
            connect_ok(server, token("u2")) as other, NativeClient(server) as anon1, \
            NativeClient(server) as anon2:
        anon1.connect()
        anon2.connect()
        # At the limit: 3 in the same instant, split across the user's connections.
        for c in (a, b, a):
            assert "publish" in pub(c)
        over = pub(b)  # limit + 1
        assert error_code(over) == 110 and over["error"]["message"] == "too many requests", over
        assert metric_samples(server).get('herald_rejections_total{reason="rate_limited"}') == 1
        assert "publish" in pub(other)  # another user has its own budget
        # Anonymous connections have a budget each.
        for _ in range(3):
            assert "publish" in pub(anon1)
        assert error_code(pub(anon1)) == 110
        assert "publish" in pub(anon2)
        time.sleep(0.4)  # a token back (1.2 at 3 per second)
        assert "publish" in pub(a)


# ----- JWKS URL ---------------------------------------------------------------------

class JwksHttpServer:
    """A real HTTP server (http.server) serving one directory."""

    def __init__(self, directory: pathlib.Path):
        handler = lambda *a, **kw: _QuietHandler(*a, directory=str(directory), **kw)  # noqa: E731
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve_jwks(path: pathlib.Path, keys: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"keys": keys}))
    os.replace(tmp, path)  # atomic: a fetch sees the old or the new file


def test_jwks_url_rotation(herald_factory, tmp_path, keys):
    web = tmp_path / "web"
    web.mkdir()
    jwks = web / "jwks.json"
    serve_jwks(jwks, [jwk(keys["rsa"], "kid1", "RS256")])
    httpd = JwksHttpServer(web)
    try:
        server = auth_server(herald_factory, tmp_path,
                             f'jwks_url = "{httpd.url("jwks.json")}"\njwks_refresh_interval = 1')
        t1 = jwt.encode(claims("one"), keys["rsa"], algorithm="RS256", headers={"kid": "kid1"})
        t2 = jwt.encode(claims("two"), keys["p256"], algorithm="ES256", headers={"kid": "kid2"})
        with connect_ok(server, t1) as c:
            assert c.user == "one"
        assert_connect_refused(server, t2, 101, "unknown key id", 3003)

        serve_jwks(jwks, [jwk(keys["p256"], "kid2", "ES256")])
        deadline = time.monotonic() + 5
        while True:
            with NativeClient(server) as c:
                if "connect" in c.call("connect", {"token": t2}):
                    break
            assert time.monotonic() < deadline, "kid2 not accepted within 5 s of the rotation"
            time.sleep(0.2)
        assert_connect_refused(server, t1, 101, "unknown key id", 3003)

        # The URL goes bad: the last good keys stay, with a warning.
        serve_jwks(jwks, [])
        jwks.write_text("not json")
        time.sleep(2.5)
        with connect_ok(server, t2) as c:
            assert c.user == "two"
        assert "keeping the last keys" in server.log_text()
    finally:
        httpd.close()
    time.sleep(1.5)  # a refresh against a closed port: still the same keys
    with connect_ok(server, t2):
        pass


def test_jwks_url_unreachable_at_start_fails_clearly(tmp_path):
    s = HeraldServer(tmp_path / "h", config='[auth]\njwks_url = "http://127.0.0.1:9/jwks.json"\n',
                     anonymous=False)
    with pytest.raises(AssertionError, match="exited"):
        s.start()
    s.proc.wait(5)
    assert s.proc.returncode != 0
    log = s.log_text()
    assert "jwks_url http://127.0.0.1:9/jwks.json" in log and "cannot start" in log, log


def make_tls_files(directory: pathlib.Path) -> tuple[str, str, str]:
    """A CA and a certificate for "localhost" signed by it: (ca, cert, key) paths."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("herald e2e CA")).issuer_name(name("herald e2e CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name("localhost")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return (write(directory, "ca.pem", ca.public_bytes(pem)), write(directory, "cert.pem", cert.public_bytes(pem)),
            write(directory, "key.pem", key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption())))


def test_jwks_url_over_https_checks_the_certificate(herald_factory, tmp_path, keys):
    import ssl

    web = tmp_path / "web"
    web.mkdir()
    serve_jwks(web / "jwks.json", [jwk(keys["rsa"], "kid1", "RS256")])
    ca, cert, key = make_tls_files(tmp_path / "tls")
    httpd = JwksHttpServer(web)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.httpd.socket = context.wrap_socket(httpd.httpd.socket, server_side=True)
    try:
        url = f"https://localhost:{httpd.port}/jwks.json"
        # Trusted through the CA (OpenSSL reads SSL_CERT_FILE as the system store).
        server = auth_server(herald_factory, tmp_path, f'jwks_url = "{url}"', env={"SSL_CERT_FILE": ca})
        t1 = jwt.encode(claims("tls"), keys["rsa"], algorithm="RS256", headers={"kid": "kid1"})
        with connect_ok(server, t1) as c:
            assert c.user == "tls"
        # Not trusted: the start fails and says why.
        s = HeraldServer(tmp_path / "untrusted", config=f'[auth]\njwks_url = "{url}"\n', anonymous=False,
                         env={"SSL_CERT_FILE": cert.replace("cert.pem", "none.pem")})
        with pytest.raises(AssertionError, match="exited"):
            s.start()
        s.proc.wait(5)
        assert "certificate verify failed" in s.log_text(), s.log_text()
        # The right CA, the wrong name: refused too.
        s = HeraldServer(tmp_path / "wrongname", anonymous=False, env={"SSL_CERT_FILE": ca},
                         config=f'[auth]\njwks_url = "https://127.0.0.1:{httpd.port}/jwks.json"\n')
        with pytest.raises(AssertionError, match="exited"):
            s.start()
        s.proc.wait(5)
        assert "certificate verify failed" in s.log_text(), s.log_text()
    finally:
        httpd.close()


def test_checktoken_uses_the_servers_rules(tmp_path, keys):
    import subprocess

    from conftest import herald_bin

    pem = write(tmp_path, "rsa.pem", public_pem(keys["rsa"]))
    cfg = write(tmp_path, "h.toml", f'[auth]\npublic_key_file = "{pem}"\nleeway = 30\nmax_token_bytes = 2000\n')

    def check(token: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
        return subprocess.run([str(herald_bin()), "checktoken", token, "--config", cfg], capture_output=True,
                              text=True, timeout=10, env=env)

    just_expired = jwt.encode({**claims("c"), "exp": int(time.time()) - 5}, keys["rsa"], algorithm="RS256")
    r = check(just_expired)
    assert r.returncode == 0 and '"sub":"c"' in r.stdout, r
    r = check(jwt.encode(claims("c", pad="p" * 2000), keys["rsa"], algorithm="RS256"))
    assert r.returncode == 1 and "token too large" in r.stderr, r
    r = check(jwt.encode(claims("c"), keys["p256"], algorithm="ES256"))
    assert r.returncode == 1 and "algorithm does not match the key" in r.stderr, r
