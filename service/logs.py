"""Keys never reach a log: a filter that masks anything shaped like an API key in log records.

Keys are refused in URLs, but a client may still put one there, and uvicorn's access log prints request paths
with their query strings. :func:`install_key_redaction` attaches :class:`RedactKeys` to uvicorn's loggers and
the service's own, so ``bsk_<id>_<secret>`` is logged as ``bsk_<id>_***`` (the id is not a secret).
"""

from __future__ import annotations

import logging
import re

__all__ = ["RedactKeys", "install_key_redaction", "redact"]

_KEY = re.compile(r"(bsk_[0-9a-f]{12}_)[A-Za-z0-9_-]+")
_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "service", "biosig")


def redact(text: str) -> str:
    return _KEY.sub(r"\1***", text)


class RedactKeys(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


def install_key_redaction() -> None:
    """Attach the filter to uvicorn's and the service's loggers and their handlers (idempotent)."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        targets: list[logging.Filterer] = [logger, *logger.handlers]
        for target in targets:
            if not any(isinstance(f, RedactKeys) for f in target.filters):
                target.addFilter(RedactKeys())
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactKeys) for f in handler.filters):
            handler.addFilter(RedactKeys())
