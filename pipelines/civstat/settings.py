"""Where things live. Every path derives from one data directory.

``--data-dir`` on the command line, else ``CIVSTAT_DATA_DIR``, else ``./data``.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def config_path() -> Path:
    return Path(os.environ.get("CIVSTAT_CONFIG", PROJECT_ROOT / "config" / "civstat.yaml")).resolve()


@dataclass(frozen=True)
class Paths:
    data: Path

    @classmethod
    def from_env(cls, data_dir: str | Path | None = None) -> "Paths":
        chosen = data_dir or os.environ.get("CIVSTAT_DATA_DIR") or "data"
        return cls(Path(chosen).expanduser().resolve())

    @property
    def raw(self) -> Path:
        return self.data / "raw"

    @property
    def clean(self) -> Path:
        return self.data / "clean"

    @property
    def quarantine(self) -> Path:
        return self.data / "clean" / "_quarantine"

    @property
    def ledger(self) -> Path:
        return self.data / "clean" / "_ledger.parquet"

    @property
    def marts(self) -> Path:
        return self.data / "marts"

    @property
    def logs(self) -> Path:
        return self.data / "logs"

    def clean_table(self, roster: str) -> Path:
        return self.clean / roster


def pseudonym_secret() -> bytes:
    """The HMAC secret for pseudonyms. Never in the repository.

    ``CIVSTAT_SECRET`` if set; else the key file ``CIVSTAT_KEY_FILE`` (default
    ``~/.config/civstat/pseudonym.key``), created with 32 random bytes on first use.
    """
    env = os.environ.get("CIVSTAT_SECRET")
    if env:
        return env.encode("utf-8")
    key_file = Path(os.environ.get("CIVSTAT_KEY_FILE", Path.home() / ".config" / "civstat" / "pseudonym.key")).expanduser()
    if key_file.resolve().is_relative_to(PROJECT_ROOT):
        raise RuntimeError(f"the pseudonym key file {key_file} is inside the repository; keep it outside ({PROJECT_ROOT})")
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_hex(32).encode("ascii"))
    return key_file.read_bytes().strip()
