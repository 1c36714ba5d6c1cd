"""Local TLS for emulators: a throw-away trustme CA and a server certificate for 127.0.0.1/localhost.

Clients trust the emulator with ``verify=<ca_path>`` (requests) or an ``ssl.SSLContext`` built from it.
"""
from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class TlsMaterial:
    server_context: ssl.SSLContext
    ca_path: Path

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_path))


def make_tls(ca_path: str | Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> TlsMaterial:
    """Create a CA, issue a server certificate for ``hosts``, write the CA PEM to ``ca_path``."""
    ca = trustme.CA()
    cert = ca.issue_cert(*hosts)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_context)
    path = Path(ca_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ca.cert_pem.write_to_path(str(path))
    return TlsMaterial(server_context=server_context, ca_path=path)
