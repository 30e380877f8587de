"""Checks of output paths and memory before a command writes or allocates anything, and whole-file
writes (:func:`replaced_whole`)."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import FileFormatError, InputError


def output_dir(text, field: str = "-o/--output") -> Path:
    """An output directory from the command line: not empty, not an existing file, not under a file."""
    if text is None or not str(text).strip():
        raise InputError(field, "a directory path", text if text is None else str(text))
    p = Path(str(text))
    if p.exists() and not p.is_dir():
        raise InputError(field, "a directory, not an existing file", str(p))
    for parent in p.parents:
        if parent.exists() and not parent.is_dir():
            raise InputError(field, f"a path whose parents are directories ({parent} is a file)", str(p))
    return p


def available_memory_bytes() -> int | None:
    """MemAvailable of /proc/meminfo (None where it cannot be read)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_memory(field: str, need_bytes: float, what: str, available: int | None = None) -> None:
    """Refuse ``need_bytes`` beyond the available memory, with the estimate in the message."""
    avail = available_memory_bytes() if available is None else available
    if avail is not None and need_bytes > avail:
        raise InputError(field, f"a {what} that fits in memory: about {need_bytes / 2**30:.3g} GiB needed, "
                         f"{avail / 2**30:.3g} GiB available", None)


def read_json_object(path, missing: str = "no such file") -> dict:
    """The JSON object in ``path``; FileFormatError ``missing`` when there is no such file, when it
    is not JSON or not an object."""
    import json

    p = Path(path)
    if not p.is_file():
        raise FileFormatError(p, missing)
    try:
        d = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileFormatError(p, f"not a JSON file ({exc})") from None
    if not isinstance(d, dict):
        raise FileFormatError(p, "expected a JSON object")
    return d


@contextmanager
def replaced_whole(path, suffix: str = ".tmp"):
    """Write ``path`` whole: yields a temporary path of this process beside it (ending in
    ``suffix``, e.g. ".png" for matplotlib) and renames it over ``path`` when the block ends
    without an error; on an error the temporary file is removed and ``path`` is left as it was.
    Readers, and other processes writing the same file, never see half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
