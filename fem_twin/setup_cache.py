"""A discharge's set-up kept on disk and reused: the smooth mesh and the conductance factors.

Why: on a 50 x 50 um piece every discharge spends ~270 s meshing (gmsh's 3D Delaunay 180 s) and ~170 s
on the fv-matched transport's finite-volume and P1 solves before its first time step, and a study
repeats that for every C-rate of a structure, every restart from a checkpoint and every calibration run.
With a cache folder (``fem-twin discharge --cache DIR``; the studies and ``fem-twin calibrate`` use
``STRUCTURE/.fem_twin_cache``) the first run stores, and the later runs load:

- the smooth mesher's tetrahedra before distribution (rank 0's points, cells, cell labels and mesher
  statistics; :func:`fem_twin.meshing.smooth_mesh.build_smooth_mesh`): the same DOLFINx mesh on any
  number of ranks, bit for bit;
- the conductance match (:func:`fem_twin.fem.transport_matching.match_conductances`), keyed by the
  distributed mesh itself, so by the rank count and partition too (its P1 solves are partitioned).

Keys are sha256 digests of everything the result depends on: the array inputs, the numbers, the
options, the source text of the modules that compute it and the versions of gmsh / DOLFINx / PETSc.
Changed code or input gives a new key, so a cached result is never stale; each file holds its full key
and is checked on load. A file that cannot be read, or holds another key, is recomputed and replaced.
Writes go through a temporary file and a rename, so two runs filling the same entry at once are safe.

A cache is an aid, never a condition: a folder that cannot be written (read-only, full disk) is a
warning on the log and a record ``"stored": false``, and the run goes on.

Rank 0 reads and writes; nothing here is collective.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

#: the cache folder the studies and ``fem-twin calibrate`` put in a structure's folder
CACHE_DIRNAME = ".fem_twin_cache"

_PACKAGE = Path(__file__).resolve().parent
logger = logging.getLogger(__name__)


def digest(*parts) -> str:
    """sha256 hex digest of ``parts``: numpy arrays by dtype, shape and bytes, everything else by repr."""
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, np.ndarray):
            a = np.ascontiguousarray(p)
            h.update(f"ndarray {a.dtype.str} {a.shape}".encode())
            h.update(a.tobytes())
        else:
            h.update(repr(p).encode())
        h.update(b"\x00")
    return h.hexdigest()


def source_files(*relative: str) -> list[Path]:
    """The files of fem_twin modules or packages (paths relative to the package: ``"meshing"`` is
    every ``.py`` file in fem_twin/meshing, ``"fem/conductivity.py"`` one file)."""
    files: list[Path] = []
    for rel in relative:
        p = _PACKAGE / rel
        if not p.exists():
            raise FileNotFoundError(f"fem_twin/{rel}: no such module or package (a cache key's source list)")
        files += sorted(p.glob("*.py")) if p.is_dir() else [p]
    return files


def sources_digest(*relative: str) -> str:
    """Digest of the source text of fem_twin modules or packages (:func:`source_files`)."""
    h = hashlib.sha256()
    for f in source_files(*relative):
        h.update(str(f.relative_to(_PACKAGE)).encode() + b"\x00" + f.read_bytes() + b"\x00")
    return h.hexdigest()


def entry_path(directory: str | Path, kind: str, key: str, suffix: str) -> Path:
    return Path(directory) / f"{kind}-{key[:24]}{suffix}"


def _atomic_write(path: Path, write) -> bool:
    """``write(file)`` into a temporary file renamed to ``path``; False (and a warning) when the
    folder cannot be written."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, 0o644)  # (mkstemp's 0600 would hide the entry from the other users of a shared folder)
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
        return True
    except OSError as e:
        logger.warning("fem-twin cache: could not store %s (%s); the run goes on without it", path, e)
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        return False
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


def _plain(o):
    """numpy scalars and arrays as JSON numbers and lists (``json.dumps(default=...)``)."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def store_arrays(path: Path, key: str, meta: dict, **arrays: np.ndarray) -> bool:
    """``arrays`` and ``meta`` (JSON with numpy numbers) into ``path`` (.npz), under ``key``; False
    when it could not be written."""
    text = json.dumps(meta, default=_plain)
    return _atomic_write(path, lambda f: np.savez(f, _key=np.array(key), _meta=np.array(text), **arrays))


def load_arrays(path: Path, key: str) -> tuple[dict, dict] | None:
    """(arrays, meta) stored under ``key`` in ``path``; None when there is no such file, it cannot be
    read, or it holds another key."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["_key"]) != key:
                return None
            meta = json.loads(str(z["_meta"]))
            arrays = {k: z[k] for k in z.files if not k.startswith("_")}
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile):  # missing, truncated, foreign
        return None
    return arrays, meta


def store_json(path: Path, key: str, record: dict) -> bool:
    """``record`` into ``path`` (JSON), under ``key``; False when it could not be written."""
    text = json.dumps({"key": key, "record": record}, indent=1, default=_plain) + "\n"
    return _atomic_write(path, lambda f: f.write(text.encode()))


def load_json(path: Path, key: str) -> dict | None:
    """The record stored under ``key`` in ``path``; None when missing, unreadable or another key's."""
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(d, dict) or d.get("key") != key or not isinstance(d.get("record"), dict):
        return None
    return d["record"]
