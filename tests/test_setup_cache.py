"""The set-up cache (fem_twin/setup_cache.py): a reused mesh and conductance match give the answer of a
run without the cache, bit for bit; other inputs make other entries; a damaged entry is made again.

The collective ones are marked ``mpi``: also run under ``mpirun -n 2 python -m pytest -m mpi``.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import small_generated

from fem_twin import phases
from fem_twin._dolfinx import MPI
from fem_twin.meshing.smooth_mesh import build_smooth_mesh
from fem_twin.setup_cache import digest, load_arrays, load_json, store_arrays, store_json


def _gathered(tm) -> tuple:
    """The whole mesh on every rank, in input order: (points of each cell, cell labels)."""
    msh = tm.mesh
    n = msh.topology.index_map(3).size_local
    pts = msh.geometry.x[msh.geometry.dofmaps[0][:n]]
    orig = np.asarray(msh.topology.original_cell_index[:n])
    comm = msh.comm
    pts, orig, lab = (np.concatenate(comm.allgather(a)) for a in (pts, orig, tm.cell_tags.values[:n]))
    order = np.argsort(orig)
    return pts[order], lab[order]


def _labels() -> np.ndarray:
    lab = np.full((6, 6, 5), phases.LPSCL, np.uint8)
    lab[1:4, 1:4, 1:4] = phases.NCM
    lab[4:, 4:, :2] = phases.PORE
    return lab


@pytest.mark.mpi
def test_a_cached_smooth_mesh_is_the_mesh_made_without_it(shared_dir):
    comm = MPI.COMM_WORLD
    cache = shared_dir / "cache"
    plain = build_smooth_mesh(_labels(), 0.5, 1.0, comm)
    first = build_smooth_mesh(_labels(), 0.5, 1.0, comm, cache_dir=cache)
    again = build_smooth_mesh(_labels(), 0.5, 1.0, comm, cache_dir=cache)
    assert "cache" not in plain.stats
    assert first.stats["cache"]["hit"] is False and again.stats["cache"]["hit"] is True
    assert first.stats["cache"]["file"] == again.stats["cache"]["file"]
    ref = _gathered(plain)
    for tm in (first, again):
        pts, lab = _gathered(tm)
        assert np.array_equal(pts, ref[0]) and np.array_equal(lab, ref[1])
        assert np.array_equal(tm.facet_tags.values, plain.facet_tags.values)
    # the mesher's own figures come back with it
    assert again.stats["quality"] == pytest.approx(first.stats["quality"])
    # another image, separator or growth: another entry, not the stored one
    other = _labels()
    other[0, 0, 0] = phases.PORE
    for kw in ({"labels": other}, {"separator_um": 1.5}, {"separator_growth": 1.5}):
        args = {"labels": _labels(), "separator_um": 1.0, "separator_growth": 1.0, **kw}
        tm = build_smooth_mesh(args["labels"], 0.5, args["separator_um"], comm,
                               separator_growth=args["separator_growth"], cache_dir=cache)
        assert tm.stats["cache"]["hit"] is False, kw
    comm.Barrier()
    assert len(list(cache.glob("smooth-mesh-*.npz"))) == 4


@pytest.mark.mpi
def test_a_damaged_entry_is_made_again(shared_dir):
    comm = MPI.COMM_WORLD
    cache = shared_dir / "cache"
    first = build_smooth_mesh(_labels(), 0.5, 1.0, comm, cache_dir=cache)
    path = first.stats["cache"]["file"]
    comm.Barrier()
    if comm.rank == 0:
        with open(path, "r+b") as f:  # truncated, as by a full disk
            f.truncate(100)
    comm.Barrier()
    again = build_smooth_mesh(_labels(), 0.5, 1.0, comm, cache_dir=cache)
    assert again.stats["cache"]["hit"] is False
    assert np.array_equal(_gathered(again)[0], _gathered(first)[0])
    third = build_smooth_mesh(_labels(), 0.5, 1.0, comm, cache_dir=cache)
    assert third.stats["cache"]["hit"] is True


def test_entries_hold_their_key(tmp_path):
    # a file under another key (a collision of the name's prefix, or a copied file) is not used
    a = np.arange(5.0)
    store_arrays(tmp_path / "e.npz", "k1", {"n": np.int64(5), "v": np.float32(0.5)}, a=a)
    arrays, meta = load_arrays(tmp_path / "e.npz", "k1")
    assert np.array_equal(arrays["a"], a) and meta == {"n": 5, "v": 0.5}
    assert load_arrays(tmp_path / "e.npz", "k2") is None
    assert load_arrays(tmp_path / "missing.npz", "k1") is None
    store_json(tmp_path / "e.json", "k1", {"x": [1, 2]})
    assert load_json(tmp_path / "e.json", "k1") == {"x": [1, 2]}
    assert load_json(tmp_path / "e.json", "k2") is None
    (tmp_path / "bad.json").write_text("{not json")
    assert load_json(tmp_path / "bad.json", "k1") is None
    # the digest sees dtype, shape and every value
    x = np.zeros((2, 3), np.uint8)
    assert len({digest(x), digest(x.astype(np.int32)), digest(x.reshape(3, 2)), digest(x + np.eye(2, 3, dtype=np.uint8))}) == 4


@pytest.mark.mpi
def test_a_discharge_with_the_cache_is_the_discharge_without_it(shared_dir):
    from fem_twin.fem.discharge_run import run_discharge
    from fem_twin.protocol import Protocol

    comm = MPI.COMM_WORLD
    img = small_generated(seed=2)
    kw = dict(protocol=Protocol.parse("discharge 2C for 300 s"), separator_um=2.0, comm=comm, quiet=True,
              write_fields=False, transport="fv-matched", mesher="smooth")
    ref = run_discharge(img.labels, img.voxel_size_um, shared_dir / "plain", **kw)
    runs = [run_discharge(img.labels, img.voxel_size_um, shared_dir / f"cached{i}", cache_dir=shared_dir / "cache", **kw)
            for i in range(2)]
    assert ref.complete and all(r.complete for r in runs)
    assert "cache" not in ref.summary["transport"]
    for r, hit in zip(runs, (False, True)):
        assert r.summary["transport"]["cache"]["hit"] is hit
        assert r.summary["mesh"]["mesher_stats"]["cache"]["hit"] is hit
        assert r.summary["transport"]["ncm"]["factor"] == ref.summary["transport"]["ncm"]["factor"]
        assert r.summary["transport"]["lpscl"]["factor"] == ref.summary["transport"]["lpscl"]["factor"]
        # bit for bit on any number of ranks: a small A is factored whole on each rank (MUMPS's
        # distributed factorisation moved the last bit run to run on 2 ranks; session 31)
        assert r.summary["solver"]["lu_layout"] == ("distributed" if comm.size == 1 else "redundant")
        assert [row["voltage_V"] for row in r.rows] == [row["voltage_V"] for row in ref.rows]
    comm.Barrier()
    assert len(list((shared_dir / "cache").glob("transport-match-*.json"))) == 1


@pytest.mark.parametrize("modules, sources", [
    (("fem_twin.meshing.smooth_mesh",), "fem_twin.meshing.smooth_mesh:MESH_SOURCES"),
    (("fem_twin.fem.transport_matching", "fem_twin.fem.conductivity"),
     "fem_twin.fem.transport_matching:TRANSPORT_SOURCES"),
])
def test_a_key_covers_every_module_its_result_is_computed_with(modules, sources):
    # a module the mesher or the match imports but the key leaves out would let a code change
    # load a result of the old code: every fem_twin module they load (in a fresh interpreter) must
    # be in the key's source list, but for the package's plumbing
    import subprocess
    import sys

    from fem_twin.setup_cache import _PACKAGE, source_files

    code = (f"import sys, importlib; [importlib.import_module(m) for m in {modules!r}]; "
            "print('\\n'.join(m.__file__ for n, m in sys.modules.items() if n.startswith('fem_twin')))")
    loaded = {p for p in subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                                        cwd=_PACKAGE.parent).stdout.split()}
    module, name = sources.split(":")
    import importlib

    covered = {str(f) for f in source_files(*getattr(importlib.import_module(module), name))}
    plumbing = {str(_PACKAGE / f) for f in ("__init__.py", "_dolfinx.py", "errors.py", "log.py", "setup_cache.py")}
    assert loaded - plumbing - covered == set()


@pytest.mark.mpi
def test_a_cache_folder_that_cannot_be_written_is_a_warning_not_a_failure(shared_dir, caplog):
    # (a file where the folder should be: mkdir fails as on a read-only or full disk, also as root)
    comm = MPI.COMM_WORLD
    blocked = shared_dir / "not_a_folder"
    if comm.rank == 0:
        blocked.write_text("x")
    comm.Barrier()
    with caplog.at_level("WARNING", logger="fem_twin.setup_cache"):
        tm = build_smooth_mesh(_labels(), 0.5, 1.0, comm, cache_dir=blocked / "cache")
    ref = build_smooth_mesh(_labels(), 0.5, 1.0, comm)
    assert tm.stats["cache"]["hit"] is False and tm.stats["cache"]["stored"] is False
    assert np.array_equal(_gathered(tm)[0], _gathered(ref)[0])
    if comm.rank == 0:
        assert "could not store" in caplog.text
