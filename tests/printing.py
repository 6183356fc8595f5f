"""Printing a workbook to PDF with LibreOffice, as a bureau's office would."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def print_to_pdf(workbook: Path, out: Path) -> Path:
    """The workbook printed to PDF by LibreOffice (its own profile under ``out``)."""
    soffice = shutil.which("soffice")
    assert soffice, "LibreOffice is not installed: .ci/run installs libreoffice-calc-nogui"
    out.mkdir(parents=True, exist_ok=True)
    profile = out / "profile"
    subprocess.run(
        [soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--convert-to", "pdf", "--outdir", str(out), str(workbook)],
        capture_output=True,
        timeout=180,
        check=True,
    )
    return out / (workbook.stem + ".pdf")
