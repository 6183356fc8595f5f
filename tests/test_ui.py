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
                "--window-size=1400,3000",  # the asset list renders only the rows in view: a tall window holds them all
                "--dump-dom",
                f"http://127.0.0.1:{port}/assets/mart",
            ],
            capture_output=True,
            text=True,
            timeout=180,
        ).stdout
        for mart in ("annual_social_assistance", "low_income_monitoring", "elderly_care_beds", "subsidy_coverage"):
            assert mart in dom, f"{mart} not on the page"
    finally:
        os.killpg(ui.pid, 15)
        ui.wait(timeout=30)


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT"])
def test_civstat_ui_stops_cleanly_and_leaves_nothing_listening(tmp_path, how):
    import signal

    port = free_port()
    (tmp_path / "raw").mkdir()
    env = {**os.environ, "CIVSTAT_DATA_DIR": str(tmp_path)}
    ui = subprocess.Popen(
        [sys.executable, "-m", "civstat.cli", "ui", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
            break
        except OSError:
            time.sleep(1)
    else:
        ui.kill()
        pytest.fail("the UI did not answer within 120 s")
    ui.send_signal(getattr(signal, how))
    out, err = ui.communicate(timeout=60)
    assert ui.returncode == 0, err[-2000:]
    assert "Traceback" not in err
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "something still listens on the UI's port"
    leftovers = subprocess.run(["pgrep", "-f", f"-p {port}"], capture_output=True, text=True).stdout.split()
    assert leftovers == [], "dagster processes left running"
