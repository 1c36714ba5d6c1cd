"""Encryption at rest of store credentials (Fernet; MultiFernet so the master key can be rotated)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from loguru import logger

from shared.errors import ConfigError
from shared.settings import Settings


class Vault:
    def __init__(self, keys: list[str], *, source: str = "WOOFORCE_MASTER_KEY"):
        self._fernet = MultiFernet([Fernet(k.strip()) for k in keys])
        self.source = source  # where the key came from, for messages

    @classmethod
    def from_settings(cls, settings: Settings) -> Vault:
        if settings.master_key is not None:
            return cls(settings.master_key.get_secret_value().split(","))
        path = settings.data_dir / "master.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(Fernet.generate_key().decode())
            logger.bind(action="config.master_key_generated").warning(
                f"WOOFORCE_MASTER_KEY is not set: generated {path}; set the variable in production"
            )
        return cls(Path(path).read_text().split(","),
                   source=f"the generated master key {path} (WOOFORCE_MASTER_KEY is not set)")

    def encrypt(self, value: Any) -> bytes:
        return self._fernet.encrypt(json.dumps(value).encode())

    def decrypt(self, token: bytes | None) -> Any:
        if token is None:
            return None
        try:
            return json.loads(self._fernet.decrypt(bytes(token)))
        except InvalidToken:
            raise ConfigError("stored credentials cannot be decrypted: "
                              "WOOFORCE_MASTER_KEY is not the key they were written with") from None

    def can_decrypt(self, token: bytes | None) -> bool:
        if token is None:
            return True
        try:
            self._fernet.decrypt(bytes(token))
        except InvalidToken:
            return False
        return True

    def rotate(self, token: bytes) -> bytes:
        return self._fernet.rotate(bytes(token))
