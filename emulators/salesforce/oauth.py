"""POST /services/oauth2/token: JWT bearer (RS256 assertion checked against the app's certificate) and
client credentials. Errors are ``{error, error_description}`` objects, status 400."""
from __future__ import annotations

import base64
import hashlib
import hmac

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from .state import JwtApp, OrgState

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def load_public_key(pem: str | bytes):
    data = pem.encode() if isinstance(pem, str) else pem
    if b"BEGIN CERTIFICATE" in data:
        return x509.load_pem_x509_certificate(data).public_key()
    return load_pem_public_key(data)


def _err(error: str, description: str) -> tuple[int, dict]:
    return 400, {"error": error, "error_description": description}


def _success(org: OrgState, user_id: str, client_id: str, instance_url: str, scope: str) -> tuple[int, dict]:
    token = org.new_session(user_id, client_id)
    issued_at = str(int(org.clock().timestamp() * 1000))
    ident = f"{instance_url}/id/{org.org_id}/{user_id}"
    sig = base64.b64encode(hmac.new(org.signing_secret, (ident + issued_at).encode(), hashlib.sha256).digest())
    return 200, {"access_token": token, "signature": sig.decode(), "scope": scope, "instance_url": instance_url,
                 "id": ident, "token_type": "Bearer", "issued_at": issued_at}


def _jwt(org: OrgState, form: dict, instance_url: str) -> tuple[int, dict]:
    assertion = form.get("assertion", "")
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        return _err("invalid_grant", "invalid assertion")
    app: JwtApp | None = org.jwt_apps.get(str(claims.get("iss", "")))
    if app is None:
        return _err("invalid_client_id", "client identifier invalid")
    if header.get("alg") != "RS256":
        return _err("invalid_grant", "invalid assertion")
    audiences = org.jwt_audiences | {instance_url}
    try:
        jwt.decode(assertion, app.public_key, algorithms=["RS256"], options={"verify_aud": False,
                                                                             "require": ["exp"]})
    except jwt.ExpiredSignatureError:
        return _err("invalid_grant", "expired authorization code")
    except jwt.PyJWTError:
        return _err("invalid_grant", "invalid assertion")
    aud = claims.get("aud")
    if not any(a.rstrip("/") in {x.rstrip("/") for x in audiences} for a in ([aud] if isinstance(aud, str) else
                                                                               aud or [])):
        return _err("invalid_grant", "Audience validation failed")
    user = org.user_by_username(str(claims.get("sub", "")))
    if user is None or user["Username"] not in app.usernames:
        return _err("invalid_grant", "user hasn't approved this consumer")
    if not user.get("IsActive"):
        return _err("invalid_grant", "inactive user")
    status, body = _success(org, user["Id"], app.consumer_key, instance_url, "web openid api id")
    return status, body


def _client_credentials(org: OrgState, form: dict, instance_url: str) -> tuple[int, dict]:
    client = org.cc_clients.get(form.get("client_id", ""))
    if client is None:
        return _err("invalid_client_id", "client identifier invalid")
    if not hmac.compare_digest(client.secret, form.get("client_secret", "")):
        return _err("invalid_client", "invalid client credentials")
    user = org.user_by_username(client.username) if client.username else None
    if user is None:
        return _err("invalid_grant", "no client credentials user enabled")
    return _success(org, user["Id"], client.client_id, instance_url, "api")


def token(org: OrgState, form: dict, instance_url: str) -> tuple[int, dict]:
    grant = form.get("grant_type")
    if grant == JWT_GRANT:
        return _jwt(org, form, instance_url)
    if grant == "client_credentials":
        return _client_credentials(org, form, instance_url)
    return _err("unsupported_grant_type", "grant type not supported")
