"""The last line of defence for messages: anything shaped like a 身份证号 is masked (first 6 +
******** + last 4) before it reaches the ledger, a log, the console or Dagster. Messages are built
from file, row, column and reason in the first place; this catches what slips through."""

from __future__ import annotations

import logging
import re

ID_SHAPED = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{5,8}|\d{8}\.?\d*[Ee]\+?)(\d{3}[\dXx])(?![0-9A-Za-z])")


class ScrubFilter(logging.Filter):
    """Masks anything shaped like a 身份证号 in a log record, whoever logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


def scrub(text: str | None) -> str | None:
    """The last line of defence: anything shaped like a 身份证号 in a message is masked."""
    if text is None:
        return None
    return ID_SHAPED.sub(lambda m: m.group(1) + "********" + m.group(3), text)
