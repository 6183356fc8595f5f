"""What a run says while it runs: one line per stage on the console, everything in a log file.

The Dagster job gets a logger of its own (``civstat``): each step's start and end (with its time)
and every warning or error go to the console; every message of the run (Dagster's, dbt's output,
Great Expectations') goes to ``<data>/logs/run-<time>.log``. ``--verbose`` shows it all on the console.
Messages pass ``redact.scrub`` first: nothing shaped like a 身份证号 is written anywhere.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import sys
import time
from pathlib import Path

import dagster as dg

STAGES = {
    "raw_extracts": "找到原始文件 / raw files found",
    "clean_rosters": "清洗 / cleaning",
    "clean_quality": "清洗后数据质量检查 / clean-table checks",
    "warehouse_models": "dbt 构建与测试 / dbt models and tests",
    "mart_quality": "数据集市质量检查 / mart checks",
    "mart__published": "发布 / publication",
    "report__caseworker_lists": "预警名单 / caseworker lists",
    "report__annual_workbook": "年度统计报表 / annual workbook",
    "report__chart_page": "统计图表 / chart page",
}
#: Stages run as several steps (a graph: ``clean_rosters.plan_ingestion``, a step per county and
#: phase, ``clean_rosters.summarise_ingestion``): the console shows the stage once, from its first
#: step's start to its last step's end (each step is in the log).
FIRST_AND_LAST = {"clean_rosters": ("plan_ingestion", "summarise_ingestion")}


class RunReporter(logging.Handler):
    def __init__(self, log_file: Path, verbose: bool):
        super().__init__(logging.DEBUG)
        log_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file = log_file
        self.verbose = verbose
        self.started: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        from civstat.redact import scrub

        message = scrub(record.getMessage()) or ""
        stamp = dt.datetime.fromtimestamp(record.created).isoformat(timespec="seconds")
        with open(self.log_file, "a", encoding="utf-8") as out:
            out.write(f"{stamp} {record.levelname:<7} {message}\n")
        event = getattr(record, "dagster_event", None)
        kind = getattr(event, "event_type_value", None)
        step, _, op = (getattr(event, "step_key", None) or "").split("[")[0].partition(".")
        label = STAGES.get(step, step)
        first, last = FIRST_AND_LAST.get(step, (op, op))
        if self.verbose:
            print(f"{stamp} {record.levelname:<7} {message}", file=sys.stderr, flush=True)
        elif kind in ("STEP_START", "STEP_SUCCESS") and op not in ((first,) if kind == "STEP_START" else (last,)):
            pass  # a step inside a stage: in the log only
        elif kind == "STEP_START":
            self.started[step] = time.perf_counter()
            print(f"  … {label}", file=sys.stderr, flush=True)
        elif kind == "STEP_SUCCESS":
            if sys.stderr.isatty():
                print("\r\033[K", end="", file=sys.stderr)
            seconds = time.perf_counter() - self.started.get(step, time.perf_counter())
            print(f"  ✓ {label} ({seconds:.1f} s)", file=sys.stderr, flush=True)
        elif kind == "STEP_FAILURE":
            print(f"  ✗ {label}: failed (details in the log)", file=sys.stderr, flush=True)
        elif record.levelno >= logging.WARNING and not kind:
            print(f"    {message[:300]}", file=sys.stderr, flush=True)
        elif sys.stderr.isatty() and (counted := re.match(r"\[(\d+)/(\d+)\]", message)):
            # files cleaned so far, on one line that rewrites itself (terminals only; the log has each file)
            print(f"\r    {counted.group(1)}/{counted.group(2)} files", end="", file=sys.stderr, flush=True)


@dg.logger(config_schema={"log_file": str, "verbose": bool}, description="civstat: stages on the console, all in a log file")
def civstat_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("civstat.run", level=logging.DEBUG)
    logger.addHandler(RunReporter(Path(init_context.logger_config["log_file"]), init_context.logger_config["verbose"]))
    return logger
