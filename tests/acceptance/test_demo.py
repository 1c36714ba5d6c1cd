"""`wooforce demo` as a new user runs it: everything starts, traffic flows with dropped webhooks,
Ctrl-C stops it cleanly, and the reconciliation report shows Salesforce matching the store."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.acceptance


def test_demo_until_ctrl_c_reports_a_converged_store():
    # under /tmp: the embedded Postgres runs as an unprivileged user that cannot enter pytest's 0700 tmp dirs
    tmp_path = Path(tempfile.mkdtemp(prefix="wf-demo-", dir="/tmp"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("WOOFORCE_")}
    env["WOOFORCE_DATA_DIR"] = str(tmp_path / "wf")
    proc = subprocess.Popen([sys.executable, "-m", "cli", "demo", "--duration", "0", "--changes-per-s", "8",
                             "--port", "0"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    lines: list[str] = []
    deadline = time.monotonic() + 120
    # wait until traffic has been flowing and delivered for a while, then press Ctrl-C
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("[") and "delivered=" in line and int(line.split("delivered=")[1].split()[0]) > 50:
            break
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=240)
    text = "".join(lines) + out
    print(text[-3000:])
    assert proc.returncode == 0, text[-3000:]
    assert "console:" in text and "Reconciliation report" in text
    assert "mismatches: 0" in text and "Salesforce matches the store." in text
    dropped = int(text.split("webhooks dropped by the store:")[1].split()[0])
    assert dropped > 0  # the reconciler, not the webhooks, closed the gaps
    # the collector and agent were stopped cleanly (SIGTERM, exit 0) and are gone
    stopped = dict(re.findall(r"stopped (collector|agent) \(pid (\d+), exit code 0\)", text))
    assert set(stopped) == {"collector", "agent"}, text[-2000:]
    assert not any(Path(f"/proc/{pid}").exists() for pid in stopped.values())
