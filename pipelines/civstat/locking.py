"""One writer per data directory: ingest, build, checks and publication run under one lock.

The lock is an ``flock`` on ``<data>/.civstat.lock``, taken before anything is deleted or written.
It is re-entrant within a process (a CLI run holds it for the whole Dagster run; the assets inside
take it again without waiting on themselves). A second process waits, saying whom it waits for, or
with ``wait=False`` (``civstat --no-wait``) stops at once with a clear message. Readers never take it.

The ingestion steps of one Dagster run that clean different counties side by side (each in a process
of its own under the multiprocess executor) take it *shared*: they write disjoint files (their own
clean files and their county's ledger partitions), so they run together, and any other writer waits
for them as they wait for it. Runs are queued one at a time, so shared holders are one run's steps.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("civstat.lock")

_held: dict[str, int] = {}
_guard = threading.Lock()
#: Whether a run that finds the lock taken waits for it (``civstat --no-wait`` sets it false).
WAIT = os.environ.get("CIVSTAT_LOCK_WAIT", "1") != "0"


class WriterBusy(Exception):
    """Another run holds the data directory's writer lock (and we were told not to wait)."""


def _holder(lock_file: Path) -> str:
    try:
        text = lock_file.read_text(encoding="utf-8").strip()
    except OSError:
        text = ""
    return text or "another civstat run"


@contextlib.contextmanager
def single_writer(data_dir: Path, *, wait: bool | None = None, on_wait=None, shared: bool = False) -> Iterator[None]:
    """Hold the writer lock of ``data_dir`` for the duration of the block (``shared``: together with
    other shared holders, the county steps of one ingestion)."""
    key = str(Path(data_dir).resolve())
    with _guard:
        depth = _held.get(key, 0)
        if depth:
            _held[key] = depth + 1
    if depth:
        try:
            yield
        finally:
            with _guard:
                _held[key] -= 1
        return
    Path(key).mkdir(parents=True, exist_ok=True)
    lock_file = Path(key) / ".civstat.lock"
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    with open(lock_file, "a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(lock_file)
            if not (WAIT if wait is None else wait):
                raise WriterBusy(
                    f"{key} is being written by {holder}; try again when it has finished (or run with --wait to wait for it)"
                ) from None
            message = f"waiting for {holder} to finish writing {key} ..."
            log.warning(message)
            if on_wait:
                on_wait(message)
            fcntl.flock(lock, mode)
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()} (since {dt.datetime.now().isoformat(timespec='seconds')})\n")
        lock.flush()
        with _guard:
            _held[key] = 1
        try:
            yield
        finally:
            with _guard:
                _held.pop(key, None)
            if not shared:  # a shared holder leaves the name to the others still holding it
                lock.seek(0)
                lock.truncate()
            fcntl.flock(lock, fcntl.LOCK_UN)
