"""Crash tests: named points where a run dies as a ``kill -9`` would, when CIVSTAT_KILL_AT names one.

Points: ingest:file-written, step:<asset> (raw_extracts, clean_rosters, warehouse_models,
published_marts), build:before-publish, publish:release-written, publish:before-switch,
publish:after-switch. Unset (always, outside tests) nothing happens.
"""

from __future__ import annotations

import os
import signal


def kill_point(name: str) -> None:
    if os.environ.get("CIVSTAT_KILL_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
