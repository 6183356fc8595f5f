"""Files generated from the roster registry (dbt sources, expectation suites): write them when
they change, and tell which ones drifted from what the registry gives now."""

from __future__ import annotations

from pathlib import Path


def write_files(files: dict[Path, str]) -> list[Path]:
    written = []
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


def drifted(files: dict[Path, str]) -> list[Path]:
    return [p for p, text in files.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
