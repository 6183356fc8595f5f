"""Shared fixtures: a pseudonym key outside the repository, and small generated data sets."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest


def _no_doctest_look_under_xdist() -> None:
    """pytest-xdist runs each worker under a bare ``__main__`` (no file, no spec), which pyspark's
    Spark Connect module (imported by Great Expectations) takes for a doctest run: without its own
    optional packages it then calls ``sys.exit(0)``, ending the worker. ``sys.ps1`` (an interactive
    session) tells it otherwise; what else reads it here (python-dotenv, hypothesis' ``example``)
    already takes a bare ``__main__`` for one."""
    main = sys.modules.get("__main__")
    if main is not None and getattr(main, "__spec__", None) is None and not hasattr(main, "__file__"):
        sys.ps1 = getattr(sys, "ps1", ">>> ")


_no_doctest_look_under_xdist()


@pytest.fixture(scope="session", autouse=True)
def pseudonym_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = tmp_path_factory.mktemp("secrets") / "pseudonym.key"
    key.write_text("test-secret-not-for-production")
    os.environ["CIVSTAT_KEY_FILE"] = str(key)
    os.environ.pop("CIVSTAT_SECRET", None)
    os.environ["DO_NOT_TRACK"] = "1"
    return key


@pytest.fixture(scope="session")
def tiny_generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three months of tiny-scale rosters (every file quirk appears), generated once."""
    from civstat.generate import generate

    root = tmp_path_factory.mktemp("tiny")
    generate("tiny", 3, 20261122, root / "raw", start="2025-11")
    return root


@pytest.fixture(scope="session")
def tiny_ingested(tiny_generated: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny data set, ingested into its own data directory."""
    from civstat.ingest import ingest
    from civstat.settings import Paths

    root = tmp_path_factory.mktemp("tiny_ingested")
    shutil.copytree(tiny_generated / "raw", root / "raw")
    report = ingest(Paths.from_env(root))
    assert not report.failed, [o.error for o in report.failed]
    return root


@pytest.fixture(scope="session")
def tiny_built(tiny_ingested: Path) -> Path:
    """The tiny data set built with dbt (unit tests included) and published."""
    import json

    from civstat.settings import Paths
    from civstat.warehouse.build import build_and_publish

    result, _ = build_and_publish(Paths.from_env(tiny_ingested), unit_tests=True)
    tiny_ingested.joinpath("build_results.json").write_text(json.dumps(result.results, default=str))
    return tiny_ingested
