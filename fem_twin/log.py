"""fem_twin's messages go through :mod:`logging` (logger ``fem_twin``); the library never prints.

Commands and demos call :func:`console` to show them (info on stdout, warnings on stderr, the
message only, looked up at each message so captured streams see them). Without it, warnings
still reach stderr through Python's last-resort handler and progress lines are not shown.
"""

from __future__ import annotations

import logging
import sys

logger = logging.getLogger("fem_twin")


class _Console(logging.Handler):
    def emit(self, record):
        try:
            stream = sys.stderr if record.levelno >= logging.WARNING else sys.stdout
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:  # pragma: no cover - as logging.StreamHandler
            self.handleError(record)


def console(level: int = logging.INFO) -> None:
    """Show fem_twin's messages from ``level`` on (idempotent)."""
    if not any(isinstance(h, _Console) for h in logger.handlers):
        h = _Console()
        h.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(h)
    logger.setLevel(level)
