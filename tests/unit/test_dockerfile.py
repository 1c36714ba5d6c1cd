"""The image installs every package the project ships (no engine runs here to build it)."""
from __future__ import annotations

import re
import tomllib

from tests.fixtures import REPO_ROOT


def test_dockerfile_copies_every_package_before_installing():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    docker = (REPO_ROOT / "Dockerfile").read_text()
    install = docker.index("RUN pip install")
    copied = {m.group(1) for m in re.finditer(r"^COPY (\w+) \./\1$", docker[:install], re.M)}
    assert packages <= copied, f"Dockerfile does not copy {sorted(packages - copied)} before `pip install .`"
    assert project["project"]["scripts"]["wooforce"].split(".")[0] in copied
