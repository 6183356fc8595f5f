#!/usr/bin/env python3
"""Set up and run civstat with nothing but Python 3.11.

    python3.11 dev.py demo     # install (first time), generate county sample data, run everything
    python3.11 dev.py test     # install (first time), run the whole test suite

Installs into ./.venv exactly what uv.lock pins (uv itself is pinned below and installed with pip):
the default groups, and for `test` (or with CIVSTAT_WITH_SPARK=1) the optional `spark` group too:
pyspark and dbt-spark, for the Spark target (tests/test_spark.py, `civstat build --engine spark`).
`demo` leaves it out (and an exact sync removes it again).
Any other arguments are passed on: ``python3.11 dev.py civstat sql "select 1"``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
UV_VERSION = "0.13.8"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def run(*cmd: str | Path, **kw) -> None:
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT, **kw)


def ensure_environment(*groups: str) -> None:
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"civstat needs Python 3.11 (this is {sys.version.split()[0]}): run it as python3.11 dev.py ...")
    if not (BIN / "python").exists():
        print("creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    if not (BIN / "uv").exists():
        # a .venv made by another tool may lack pip: ensurepip brings Python's bundled copy (offline)
        run(BIN / "python", "-m", "ensurepip", "--default-pip", stdout=subprocess.DEVNULL)
        run(BIN / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", f"uv=={UV_VERSION}")
    env = {**os.environ, "VIRTUAL_ENV": str(VENV), "UV_PROJECT_ENVIRONMENT": str(VENV)}
    # --compile-bytecode: imports stay fast even where PYTHONDONTWRITEBYTECODE is set (it is, on some machines)
    extras = [arg for group in groups for arg in ("--group", group)]
    run(BIN / "uv", "sync", "--frozen", "--quiet", "--compile-bytecode", *extras, env=env)


def ensure_browser() -> None:
    """The chart and web-UI tests look at pages in a real browser (Debian's chromium and a CJK font);
    the print tests open workbooks in LibreOffice and print them to PDF. Installed here (as root,
    with apt) when missing, so `dev.py test` and CI run the same thing."""
    import shutil

    fonts = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True) if shutil.which("fc-list") else None
    if shutil.which("chromium") and shutil.which("soffice") and shutil.which("pdftotext") and fonts is not None and fonts.stdout.strip():
        return
    packages = ["chromium", "fonts-wqy-zenhei", "libreoffice-calc-nogui", "poppler-utils"]
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        sys.exit(f"the browser and print tests need: sudo apt-get install {' '.join(packages)}")
    print("installing chromium, a CJK font and LibreOffice Calc for the browser and print tests (apt-get) ...", flush=True)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    installs = [
        ["apt-get", "install", "-y", "-qq", "chromium", "fonts-wqy-zenhei"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "libreoffice-calc-nogui", "poppler-utils"],  # no desktop extras
    ]
    if any(subprocess.call(install, **quiet) != 0 for install in installs):
        subprocess.call(["apt-get", "update", "-qq"], **quiet)
        for install in installs:
            subprocess.run(install, check=True, stdout=subprocess.DEVNULL)


def ensure_java() -> None:
    """Spark (tests/test_spark.py) runs on a Java 17 runtime: installed with apt when missing."""
    import shutil

    if shutil.which("java"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        sys.exit("the Spark tests need Java 17: sudo apt-get install openjdk-17-jre-headless")
    print("installing a Java 17 runtime for the Spark tests (apt-get) ...", flush=True)
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "openjdk-17-jre-headless"]
    if subprocess.call(install, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) != 0:
        subprocess.call(["apt-get", "update", "-qq"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(install, check=True, stdout=subprocess.DEVNULL)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    command, rest = argv[0], argv[1:]
    ensure_environment(*(["spark"] if command == "test" or os.environ.get("CIVSTAT_WITH_SPARK") == "1" else []))
    os.environ.setdefault("DO_NOT_TRACK", "1")
    if command == "test":
        ensure_browser()
        ensure_java()
        # the linter and the formatter first (configured in pyproject.toml), then every test
        for check, fix in ((["check"], "ruff check --fix"), (["format", "--check"], "ruff format")):
            if subprocess.call([str(BIN / "ruff"), *check, "pipelines", "tests", "benchmarks", "dev.py"], cwd=ROOT):
                print(f"ruff {' '.join(check)} failed: `python3.11 dev.py {fix}` fixes most of it", flush=True)
                return 1
        # every test (the slow ones too), in a process per CPU (at most 4, pytest-xdist: a process that
        # runs out of tests takes some of another's), so CI stays within its time; `-n 0`: one process
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1  # a container's share
        workers = max(1, min(4, cpus))
        parallel = ["-n", str(workers), "--dist", "worksteal"] if workers > 1 else []
        return subprocess.call([str(BIN / "python"), "-m", "pytest", "-m", "slow or not slow", *parallel, *rest], cwd=ROOT)
    if command == "demo":
        return subprocess.call([str(BIN / "civstat"), "demo", *rest], cwd=ROOT)
    return subprocess.call([str(BIN / command), *rest], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
