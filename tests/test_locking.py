"""One writer per data directory: a second run waits, saying for whom, or stops at once with --no-wait."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from civstat.locking import single_writer


def hold_lock(data_dir: Path, *, shared: bool = False) -> subprocess.Popen:
    """Another process holding ``data_dir``'s writer lock until ``release`` (never for a set time: a
    loaded machine may take longer than any to start the process that must find it taken)."""
    hold = (
        "import sys; from pathlib import Path; from civstat.locking import single_writer\n"
        f"with single_writer(Path(sys.argv[1]), shared={shared}):\n    print('held', flush=True); sys.stdin.readline()\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", hold, str(data_dir)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def release(holder: subprocess.Popen) -> None:
    if holder.poll() is None:
        holder.stdin.write("\n")
        holder.stdin.flush()
    holder.wait(timeout=60)


def test_a_second_writer_is_refused_with_no_wait_and_waits_otherwise(tmp_path):
    env = {**os.environ, "CIVSTAT_DATA_DIR": str(tmp_path)}
    holder = hold_lock(tmp_path)
    busy = subprocess.run([sys.executable, "-m", "civstat.cli", "--no-wait", "ingest"], capture_output=True, text=True, env=env)
    assert busy.returncode == 3
    assert "is being written by pid" in " ".join(busy.stderr.split())
    waiting = subprocess.Popen(
        [sys.executable, "-m", "civstat.cli", "ingest"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    )
    safety = threading.Timer(300, release, [holder])  # should the run wait without saying so: no test hangs
    safety.start()
    said = ""
    for line in waiting.stderr:  # until the run says it waits (it is blocked on the lock then), or ends
        said += line
        if "waiting for pid" in " ".join(said.split()):
            break
    assert "waiting for pid" in " ".join(said.split()), said
    assert waiting.poll() is None  # still waiting: it goes on only when the holder lets go
    release(holder)
    safety.cancel()
    said += waiting.communicate(timeout=300)[1]
    assert waiting.returncode == 0, said


def test_the_lock_is_reentrant_within_one_process(tmp_path):
    with single_writer(tmp_path, wait=False):
        with single_writer(tmp_path, wait=False):
            pass
        assert (tmp_path / ".civstat.lock").read_text().startswith("pid ")


def test_a_lock_released_by_a_killed_process_is_free_again(tmp_path):
    hold = (
        "import sys, os, signal; from pathlib import Path; from civstat.locking import single_writer\n"
        "with single_writer(Path(sys.argv[1])):\n    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    subprocess.run([sys.executable, "-c", hold, str(tmp_path)])
    with single_writer(tmp_path, wait=False):  # no WriterBusy: the kernel released the dead process's lock
        pass


def test_the_county_steps_of_an_ingestion_share_the_lock_and_every_other_writer_waits_for_them(tmp_path):
    from civstat.locking import WriterBusy

    county_step = hold_lock(tmp_path, shared=True)
    with single_writer(tmp_path, wait=False, shared=True):  # another county's step, beside it
        pass
    with pytest.raises(WriterBusy), single_writer(tmp_path, wait=False):  # a build, an ingest, a publication: alone
        pass
    release(county_step)
    with single_writer(tmp_path, wait=False):
        pass
