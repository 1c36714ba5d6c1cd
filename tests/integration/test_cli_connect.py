"""One thing to paste (issue 21): `stores add` / `stores show --connect` / `rotate-secret` print the plugin's
connection string (WOOFORCE_PUBLIC_URL, store id, secret); the collector serves HTTPS itself from
WOOFORCE_TLS_CERT_FILE / WOOFORCE_TLS_KEY_FILE."""
from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time

import pytest
import requests
from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cli.connection import connection_string, parse_connection_string
from shared.signing import sign_headers
from tests.support.procs import free_port, http

pytestmark = pytest.mark.integration


@pytest.fixture
def env(pg_dsn, tmp_path, db) -> dict:
    return {**os.environ, "WOOFORCE_DATABASE_URL": pg_dsn, "WOOFORCE_MASTER_KEY": Fernet.generate_key().decode(),
            "WOOFORCE_DATA_DIR": str(tmp_path)}


def run(env: dict, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", *args], env={**env, **extra}, capture_output=True, text=True,
                          timeout=60)


def test_connection_string_round_trips():
    text = connection_string("https://collector.example.com", "st_1", "whsec_abc=")
    assert text.startswith("wooforce://") and "=" not in text
    assert parse_connection_string(" " + text + "\n") == {"v": 1, "url": "https://collector.example.com",
                                                          "store_id": "st_1", "secret": "whsec_abc="}
    for bad in ("https://collector.example.com", "wooforce://!!!", "wooforce://e30"):  # e30 = "{}"
        with pytest.raises(ValueError):
            parse_connection_string(bad)


def test_stores_add_show_and_rotate_print_the_connection_string(env):
    url = "https://collector.example.com"
    added = run(env, "stores", "add", "--name", "Paste shop", "--json", WOOFORCE_PUBLIC_URL=url + "/")
    assert added.returncode == 0, added.stderr
    store = json.loads(added.stdout)
    conn = parse_connection_string(store["connection_string"])
    assert conn == {"v": 1, "url": url, "store_id": store["store_id"], "secret": store["signing_secret"]}

    shown = run(env, "stores", "show", store["store_id"], WOOFORCE_PUBLIC_URL=url)
    assert "wooforce://" not in shown.stdout and store["signing_secret"] not in shown.stdout
    shown = run(env, "stores", "show", store["store_id"], "--connect", "--json", WOOFORCE_PUBLIC_URL=url)
    assert json.loads(shown.stdout)["connection_string"] == store["connection_string"]

    rotated = json.loads(run(env, "stores", "rotate-secret", store["store_id"], "--json",
                             WOOFORCE_PUBLIC_URL=url).stdout)
    assert parse_connection_string(rotated["connection_string"])["secret"] == rotated["signing_secret"]
    shown = json.loads(run(env, "stores", "show", store["store_id"], "--connect", "--json",
                           WOOFORCE_PUBLIC_URL=url).stdout)
    assert shown["connection_string"] == rotated["connection_string"], "the new secret, not the expiring one"

    plain = run(env, "stores", "add", "--name", "No URL shop")
    assert plain.returncode == 0 and "wooforce://" not in plain.stdout
    assert "set WOOFORCE_PUBLIC_URL" in plain.stderr


@pytest.mark.parametrize("url", ["http://collector.example.com", "collector.example.com",
                                 "https://user:pw@collector.example.com", "https://collector.example.com/?a=1"])
def test_bad_public_url_exits_2(env, url):
    r = run(env, "stores", "list", WOOFORCE_PUBLIC_URL=url)
    assert r.returncode == 2 and "WOOFORCE_PUBLIC_URL" in r.stderr and "Traceback" not in r.stderr


def _self_signed(tmp_path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


def test_collector_serves_https_from_the_tls_settings(env, tmp_path):
    cert, key = _self_signed(tmp_path)
    port = free_port()
    added = json.loads(run(env, "stores", "add", "--name", "TLS shop", "--json",
                           WOOFORCE_PUBLIC_URL=f"https://localhost:{port}").stdout)
    conn = parse_connection_string(added["connection_string"])
    tls_env = {**env, "WOOFORCE_TLS_CERT_FILE": cert, "WOOFORCE_TLS_KEY_FILE": key,
               "WOOFORCE_COLLECTOR_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "cli", "collector"], env=tls_env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        with http() as s:
            while True:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                try:
                    if s.get(f"https://localhost:{port}/healthz", verify=cert, timeout=1).status_code == 200:
                        break
                except requests.ConnectionError:
                    assert time.monotonic() < deadline, "collector not ready over https"
                    time.sleep(0.1)
            body = b'{"ping":true}'
            r = s.post(f"{conn['url']}/v1/stores/{conn['store_id']}/ping", data=body, verify=cert, timeout=5,
                       headers={**sign_headers(conn["secret"], "msg_tls", body), "Content-Type": "application/json"})
            assert r.status_code == 200 and r.json()["store_id"] == conn["store_id"]
            with pytest.raises(requests.ConnectionError):  # plain http on the TLS port is not served
                s.get(f"http://localhost:{port}/healthz", timeout=2)
    finally:
        proc.terminate()
        proc.wait(20)


def test_tls_settings_are_validated(env, tmp_path):
    cert, key = _self_signed(tmp_path)
    r = run(env, "collector", WOOFORCE_TLS_CERT_FILE=cert)
    assert r.returncode == 2 and "both WOOFORCE_TLS_CERT_FILE and WOOFORCE_TLS_KEY_FILE" in r.stderr
    r = run(env, "collector", WOOFORCE_TLS_CERT_FILE=cert, WOOFORCE_TLS_KEY_FILE=str(tmp_path / "missing.pem"))
    assert r.returncode == 2 and "not a readable file" in r.stderr
    (tmp_path / "other").mkdir()
    other_cert, _ = _self_signed(tmp_path / "other")  # a certificate whose key is another one
    r = run(env, "collector", WOOFORCE_TLS_CERT_FILE=other_cert, WOOFORCE_TLS_KEY_FILE=key,
            WOOFORCE_COLLECTOR_PORT=str(free_port()))
    assert r.returncode == 2 and "cannot load the certificate and key" in r.stderr, r.stderr


def test_compose_offers_a_tls_proxy_in_front_of_the_collector():
    from pathlib import Path

    import yaml

    compose = yaml.safe_load((Path(__file__).parents[2] / "docker-compose.yml").read_text())
    caddy = compose["services"]["caddy"]
    assert caddy["profiles"] == ["tls"], "opt-in: plain `docker compose up` is unchanged"
    cmd = caddy["command"]
    assert cmd[:2] == ["caddy", "reverse-proxy"] and cmd[cmd.index("--to") + 1] == "collector:8080"
    assert "${WOOFORCE_DOMAIN" in cmd[cmd.index("--from") + 1]
    assert "443:443" in caddy["ports"] and "80:80" in caddy["ports"]
    assert "caddy_data:/data" in caddy["volumes"] and "caddy_data" in compose["volumes"]
