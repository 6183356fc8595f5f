"""The Dagster web UI, started as a user would (civstat ui), serves the asset graph to a real
headless Chromium, which finds the mart assets on the page."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_the_web_ui_shows_the_mart_assets_to_headless_chromium(tmp_path):
    assert CHROMIUM, "chromium is not installed: .ci/run installs Debian's chromium"
    port = free_port()
    env = {**os.environ, "CIVSTAT_DATA_DIR": str(tmp_path)}
    ui = subprocess.Popen(
        [sys.executable, "-m", "civstat.cli", "ui", "--port", str(port)],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("the Dagster UI did not start within 120 s")
        dom = subprocess.run(
            [
                CHROMIUM,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={tmp_path / 'chromium'}",
                "--virtual-time-budget=30000",
                "--dump-dom",
                f"http://127.0.0.1:{port}/assets/mart",
            ],
            capture_output=True,
            text=True,
            timeout=180,
        ).stdout
        for mart in ("low_income_monitoring", "elderly_care_beds", "subsidy_coverage"):
            assert mart in dom, f"{mart} not on the page"
    finally:
        os.killpg(ui.pid, 15)
        ui.wait(timeout=30)
