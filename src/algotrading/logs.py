"""Logging for the command line and the run log: readable lines on the console,
JSON lines in ``run.log``, and every configured secret replaced by ``***`` in both."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LOGGER = "algotrading"
REDACTED = "***"


class RedactingFilter(logging.Filter):
    """Replaces secret values anywhere in a record's final message (and traceback)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = self.redact(record.getMessage())
            record.msg, record.args = message, None
            if record.exc_info:
                record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, and any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:
            doc["traceback"] = record.exc_text
        elif record.exc_info:
            doc["traceback"] = self.formatException(record.exc_info)
        step = getattr(record, "step", None)
        if step:
            doc["step"] = step
        return json.dumps(doc, ensure_ascii=False)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each record, not the stream
    it was created with (that one may be closed since, e.g. by a test's capture)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:  # StreamHandler.__init__ assigns it
        pass


def configure_console(verbose: bool = False) -> None:
    """Console output for the CLI: ``HH:MM:SS level message`` on stderr."""
    logger = logging.getLogger(LOGGER)
    logger.setLevel(logging.DEBUG)
    if not any(getattr(h, "_algotrading_console", False) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S"))
        handler._algotrading_console = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    for h in logger.handlers:
        if getattr(h, "_algotrading_console", False):
            h.setLevel(logging.DEBUG if verbose else logging.INFO)


def add_redaction(secrets: Iterable[str]) -> RedactingFilter:
    """Redact ``secrets`` on every handler of the package logger (present and future)."""
    flt = RedactingFilter(secrets)
    for handler in logging.getLogger(LOGGER).handlers:
        handler.addFilter(flt)
    return flt


@contextmanager
def run_log(path: Path, redaction: RedactingFilter) -> Iterator[None]:
    """Also write the package's log records to ``path`` as JSON lines while inside."""
    logger = logging.getLogger(LOGGER)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(JsonLinesFormatter())
    handler.addFilter(redaction)
    logger.addHandler(handler)
    previous_level = logger.level
    logger.setLevel(logging.DEBUG)  # the run log keeps everything, whatever the console shows
    try:
        yield
    finally:
        logger.setLevel(previous_level)
        logger.removeHandler(handler)
        try:
            handler.close()
        except OSError as exc:  # a full disk: the run's result says so; the log file ends short
            logger.error("the run log %s could not be completed: %s", path, exc)
