"""One writer per data directory: a second run waits, saying for whom, or stops at once with --no-wait."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from civstat.locking import single_writer


def test_a_second_writer_is_refused_with_no_wait_and_waits_otherwise(tmp_path):
    env = {**os.environ, "CIVSTAT_DATA_DIR": str(tmp_path)}
    hold = (
        "import sys, time; from pathlib import Path; from civstat.locking import single_writer\n"
        "with single_writer(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(3)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", hold, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env)
    assert holder.stdout.readline().strip() == "held"
    busy = subprocess.run([sys.executable, "-m", "civstat.cli", "--no-wait", "ingest"], capture_output=True, text=True, env=env)
    assert busy.returncode == 3
    assert "is being written by pid" in " ".join(busy.stderr.split())
    started = time.monotonic()
    waited = subprocess.run([sys.executable, "-m", "civstat.cli", "ingest"], capture_output=True, text=True, env=env)
    assert time.monotonic() - started > 1.0
    assert "waiting for pid" in " ".join(waited.stderr.split())
    holder.wait()
    assert waited.returncode == 0, waited.stderr


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

    hold = (
        "import sys, time; from pathlib import Path; from civstat.locking import single_writer\n"
        "with single_writer(Path(sys.argv[1]), shared=True):\n    print('held', flush=True); time.sleep(3)\n"
    )
    county_step = subprocess.Popen([sys.executable, "-c", hold, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert county_step.stdout.readline().strip() == "held"
    with single_writer(tmp_path, wait=False, shared=True):  # another county's step, beside it
        pass
    with pytest.raises(WriterBusy), single_writer(tmp_path, wait=False):  # a build, an ingest, a publication: alone
        pass
    county_step.wait()
    with single_writer(tmp_path, wait=False):
        pass
