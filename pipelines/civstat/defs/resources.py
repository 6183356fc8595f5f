"""Resources shared by the assets."""

from __future__ import annotations

import dagster as dg

from civstat.settings import Paths


class CivstatResource(dg.ConfigurableResource):
    """Where the data lives: ``data_dir`` (empty: $CIVSTAT_DATA_DIR, else ./data)."""

    data_dir: str = ""

    def paths(self) -> Paths:
        return Paths.from_env(self.data_dir or None)
