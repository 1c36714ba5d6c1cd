"""`wooforce demo` refuses a taken port instead of silently picking another (exit 2, naming the option)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("option", ["--port", "--sf-port", "--wc-port"])
def test_a_taken_port_exits_2_naming_the_option_before_starting_anything(option):
    tmp = Path(tempfile.mkdtemp(prefix="wf-demo-port-", dir="/tmp"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("WOOFORCE_")}
    env["WOOFORCE_DATA_DIR"] = str(tmp / "wf")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ["--port", "0", option, str(port)] if option != "--port" else ["--port", str(port)]
        res = subprocess.run([sys.executable, "-m", "cli", "demo", "--duration", "1", *args], env=env, cwd=tmp,
                             capture_output=True, text=True, timeout=60)
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"port {port} is taken: choose another with {option}" in res.stderr
    assert "Traceback" not in res.stderr and "starting the embedded Postgres" not in res.stdout
    assert not (tmp / "wf" / "demo").exists()  # nothing was started or created
