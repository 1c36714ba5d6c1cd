"""Locate and load the captured reference data in ``../shared/fixtures`` (outside the repo)."""
from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def fixtures_dir() -> Path:
    env = os.environ.get("WOOFORCE_FIXTURES_DIR")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "fixtures"


@cache
def load(relpath: str):
    return json.loads((fixtures_dir() / relpath).read_text())
