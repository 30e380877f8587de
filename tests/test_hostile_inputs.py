"""Hostile and malformed inputs through the CLI (issue 16): exit code 2, one line on stderr naming
the field, and no file left that looks like a result. In-process calls of ``fem_twin.cli.main``
(see tests/test_cli.py); the discharge cases stop before meshing, the run cases use a
hemisphere of 4 voxels (a few seconds).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from fem_twin.cli import main
from fem_twin.microstructure.image import VoxelImage

sys.path.insert(0, str(Path(__file__).parent))
from test_discharge_verification import SPM_OVERRIDES, hemisphere_on_collector  # noqa: E402

RESULT_NAMES = ("structure.npz", "structure.vti", "design.json", "analysis.json", "discharge.csv",
                "discharge.json", "discharge.png", "checkpoint.npz", "mesh.xdmf", "mesh.json")


def _tree(root: Path) -> dict:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def particle(tmp_path_factory) -> Path:
    """A structure directory: one NCM hemisphere (4 voxels of 1/3 um) in LPSCl."""
    d = tmp_path_factory.mktemp("particle")
    VoxelImage(hemisphere_on_collector(4), 1.0 / 3.0).save(d)
    return d


def _files(tmp: Path, particle: Path) -> dict:
    """Files the cases refer to: bad TOMLs, images, an existing file."""
    f = {"FILE": tmp / "afile.txt"}
    f["FILE"].write_text("x")
    tomls = {
        "RISING": '[ocp]\nx = [0.2, 0.6, 1.0]\nu_V = [3.4, 3.8, 4.4]\n',
        "SHORT": '[ocp]\nx = [0.5, 0.8, 1.0]\nu_V = [4.0, 3.8, 3.4]\n',
        "NAN": '[ocp]\nx = [0.2, 0.6, 1.0]\nu_V = [4.4, nan, 3.4]\n',
        "LENGTHS": '[ocp]\nx = [0.2, 0.6, 1.0]\nu_V = [4.4, 3.4]\n',
        "UNKNOWN": 'd_ncm = 1e-15\n',
        "BADTOML": 'd_ncm_m2_s = = 3\n',
        "RANGE": 'temperature_K = 1000\n',
    }
    for k, text in tomls.items():
        f[k] = tmp / f"{k.lower()}.toml"
        f[k].write_text(text)
    np.save(tmp / "seg.npy", np.array([[[0, 1], [2, 1]], [[1, 1], [0, 2]]], np.uint8))
    f["NPY"] = tmp / "seg.npy"
    np.save(tmp / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    f["PICKLE"] = tmp / "obj.npy"
    (tmp / "seg.raw").write_bytes(bytes(10))
    f["RAW"] = tmp / "seg.raw"
    import tifffile

    tifffile.imwrite(tmp / "full.tif", np.zeros((8, 64, 64), np.uint8))
    data = (tmp / "full.tif").read_bytes()
    (tmp / "cut.tif").write_bytes(data[: len(data) // 3])
    f["TIFF"] = tmp / "cut.tif"
    f["P"] = particle
    return f


# (argv with placeholders, text that must be in the one error line)
CASES = [
    # generate
    (["generate", "--seed", "-1", "-o", "OUT"], "--seed"),
    (["generate", "--seed", str(2 ** 70), "-o", "OUT"], "--seed"),
    (["generate", "--size", "1e6,1e6", "-o", "OUT"], "GiB needed"),
    (["generate", "--voxel", "1e-9", "-o", "OUT"], "voxel"),
    (["generate", "--size", "200,200", "--voxel", "0.1", "-o", "OUT"], "GiB needed"),
    (["generate", "-o", "FILE"], "-o/--output"),
    (["generate", "-o", "FILE/sub"], "-o/--output"),
    (["generate", "-o", ""], "-o/--output"),
    (["generate", "--composition", "70:28:5", "-o", "OUT"], "composition"),
    (["generate", "--composition", "abc", "-o", "OUT"], "composition"),
    (["generate", "--voxel", "nan", "-o", "OUT"], "voxel"),
    (["generate", "--size", "50", "-o", "OUT"], "--size"),
    (["generate", "--size", "a,b", "-o", "OUT"], "--size"),
    (["generate", "--loading", "-1", "-o", "OUT"], "loading"),
    (["generate", "--thickness", "0", "-o", "OUT"], "thickness"),
    # analyze
    (["analyze", "OUT"], "no such file"),
    # import-image
    (["import-image", "NPY", "--labels", "ncm=300,pore=0", "-o", "OUT"], "label value out of range"),
    (["import-image", "TIFF", "--labels", "ncm=1,pore=0", "-o", "OUT"], "cut.tif"),
    (["import-image", "NPY", "--labels", "foo=1", "-o", "OUT"], "--labels"),
    (["import-image", "NPY", "--labels", "ncm=a", "-o", "OUT"], "--labels"),
    (["import-image", "NPY", "--labels", "lpscl=1,pore=0", "-o", "OUT"], "a value for ncm"),
    (["import-image", "NPY", "--labels", "ncm=1,pore=0", "-o", "OUT"], "unmapped values"),
    (["import-image", "NPY", "--labels", "ncm=1,lpscl=1,pore=0,nbr=2", "-o", "OUT"], "different file value"),
    (["import-image", "OUT/none.npy", "--labels", "ncm=1", "-o", "OUT"], "no such file"),
    (["import-image", "RAW", "--labels", "ncm=0", "-o", "OUT"], "--shape"),
    (["import-image", "RAW", "--labels", "ncm=0", "--shape", "3,3,3", "-o", "OUT"], "holds 10 values"),
    (["import-image", "RAW", "--labels", "ncm=0", "--shape", "0,1,10", "-o", "OUT"], "--shape"),
    (["import-image", "NPY", "--labels", "ncm=1,lpscl=2,pore=0", "--voxel", "0", "-o", "OUT"], "--voxel"),
    (["import-image", "NPY", "--labels", "ncm=1,lpscl=2,pore=0", "-o", "FILE"], "-o/--output"),
    (["import-image", "PICKLE", "--labels", "ncm=1", "-o", "OUT"], "pickled"),
    # discharge (refused before meshing)
    (["discharge", "P", "-o", "OUT", "--petsc", "foo"], "--petsc"),
    (["discharge", "P", "-o", "OUT", "--petsc", "discharge_snes_max_it=abc"], "--petsc discharge_snes_max_it"),
    (["discharge", "P", "-o", "OUT", "--petsc", "discharge_snes_rtol=x"], "--petsc discharge_snes_rtol"),
    (["discharge", "P", "-o", "OUT", "--protocol", ""], "--protocol"),
    (["discharge", "P", "-o", "OUT", "--protocol", "jump 1C to 3 V"], "protocol"),
    (["discharge", "P", "-o", "OUT", "--c-rate", "0"], "--c-rate"),
    (["discharge", "P", "-o", "OUT", "--c-rate", "nan"], "--c-rate"),
    (["discharge", "P", "-o", "OUT", "--cutoff", "5.0"], "--cutoff"),
    (["discharge", "P", "-o", "OUT", "--dt", "-1"], "--dt"),
    (["discharge", "P", "-o", "OUT", "--output-every", "0"], "--output-every"),
    (["discharge", "P", "-o", "OUT", "--checkpoint-every", "-1"], "--checkpoint-every"),
    (["discharge", "P", "-o", "OUT", "--params", "OUT/none.toml"], "--params"),
    (["discharge", "P", "-o", "OUT", "--params", "RISING"], "not monotone"),
    (["discharge", "P", "-o", "OUT", "--params", "SHORT"], "initial lithiation 0.27"),
    (["discharge", "P", "-o", "OUT", "--params", "NAN"], "ocp.u_V[1]"),
    (["discharge", "P", "-o", "OUT", "--params", "LENGTHS"], "3 x values and 2 u_V values"),
    (["discharge", "P", "-o", "OUT", "--params", "UNKNOWN"], "d_ncm"),
    (["discharge", "P", "-o", "OUT", "--params", "BADTOML"], "not valid TOML"),
    (["discharge", "P", "-o", "OUT", "--params", "RANGE"], "temperature_K"),
    (["discharge", "P", "-o", "OUT", "--separator", "-1"], "--separator"),
    (["discharge", "P", "-o", "OUT", "--separator-growth", "0.5"], "--separator-growth"),
    (["discharge", "P", "-o", "OUT", "--restart"], "checkpoint"),
    (["discharge", "P", "-o", "FILE"], "-o/--output"),
    (["discharge", "P", "-o", "FILE/sub"], "-o/--output"),
    (["discharge", "P", "-o", ""], "-o/--output"),
    (["discharge", "OUT"], "no such file"),
    # studies
    (["study", "conductivity", "--seeds", "1,,2", "-o", "OUT"], "--seeds"),
    (["study", "conductivity", "--seeds", "-1", "-o", "OUT"], "--seeds"),
    (["study", "conductivity", "--compositions", "60,,70", "-o", "OUT"], "--compositions"),
    (["study", "conductivity", "--seeds", "1", "--compositions", "70", "-o", ""], "-o/--output"),
]


@pytest.mark.parametrize("argv,words", CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_hostile_input_one_line_exit_2_nothing_written(argv, words, particle, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files = _files(tmp_path, particle)
    out = tmp_path / "out"
    args = []
    for a in argv:
        for k, v in files.items():
            if a == k or a.startswith(k + "/"):
                a = str(v) + a[len(k):]
        args.append(a.replace("OUT", str(out)) if a.startswith("OUT") else a)
    before_p = _tree(particle)
    before = _tree(tmp_path)
    rc = main(args)
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and words in err, err
    assert "Traceback" not in err and "PETSC" not in err
    new = set(_tree(tmp_path)) - set(before)
    assert not [n for n in new if Path(n).name in RESULT_NAMES], new
    assert not out.exists() or not any(out.iterdir())
    assert _tree(particle) == before_p


def test_at_least_forty_cases():
    assert len(CASES) >= 40


# ------------------------------------------------------------------------------------------------
# results are never destroyed
# ------------------------------------------------------------------------------------------------
def _params(tmp: Path) -> str:
    f = tmp / "spm.toml"
    f.write_text("\n".join(f"{k} = {json.dumps(v)}" for k, v in SPM_OVERRIDES.items()) + "\n")
    return str(f)


def _complete_run(particle: Path, out: Path, tmp: Path, *extra) -> int:
    return main(["discharge", str(particle), "-o", str(out), "--params", _params(tmp), "--separator", "0.3333333333",
                 "--separator-growth", "1", "--cutoff", "4.1", "--no-fields", "-q", "--mesher", "voxel", *extra])


def test_complete_results_survive_reruns_and_failed_runs(particle, tmp_path, capsys):
    out = tmp_path / "run"
    assert _complete_run(particle, out, tmp_path, "--checkpoint-every", "2") == 0
    assert json.loads((out / "discharge.json").read_text())["complete"]
    assert (out / "checkpoint.npz").exists()
    csv_before = (out / "discharge.csv").read_text()
    snapshot = _tree(out)
    capsys.readouterr()
    # a failing run and a valid new run into the folder: refused, nothing touched
    for extra in (["--petsc", "discharge_snes_max_it=1"], ["--c-rate", "0.5"]):
        assert _complete_run(particle, out, tmp_path, *extra) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "--overwrite" in err and "-o/--output" in err, err
        assert _tree(out) == snapshot
    # --overwrite with a run that fails: the old results and checkpoint are gone, the new
    # discharge.json says incomplete
    rc = _complete_run(particle, out, tmp_path, "--overwrite", "--petsc", "discharge_snes_max_it=1",
                       "--checkpoint-every", "0")
    assert rc == 1
    s = json.loads((out / "discharge.json").read_text())
    assert s["complete"] is False and "running" not in s
    assert (out / "discharge.csv").read_text() != csv_before
    assert not (out / "checkpoint.npz").exists()
    assert not (out / "discharge.png").exists() or (out / "discharge.png").stat().st_mtime_ns != \
        snapshot.get("discharge.png")


def test_a_new_run_does_not_keep_the_old_checkpoint(particle, tmp_path):
    out = tmp_path / "run"
    assert _complete_run(particle, out, tmp_path, "--checkpoint-every", "2", "--c-rate", "2") == 0
    assert (out / "checkpoint.npz").exists()
    assert _complete_run(particle, out, tmp_path, "--overwrite", "--checkpoint-every", "0") == 0
    assert not (out / "checkpoint.npz").exists()  # the 2C run's checkpoint must not sit beside the 1C files
    s = json.loads((out / "discharge.json").read_text())
    assert s["complete"] and s["protocol"].startswith("discharge 1C")


def test_running_marker_is_incomplete(tmp_path):
    """While a run goes on (or after a SIGKILL) discharge.json is a 'running' marker, incomplete."""
    from fem_twin.commands.study_discharge import run_state
    from fem_twin.fem.discharge_io import has_complete_result, start_output

    (tmp_path / "discharge.json").write_text('{"complete": true}')
    (tmp_path / "checkpoint.npz").write_bytes(b"x")
    start_output(tmp_path, restart=True)
    assert not has_complete_result(tmp_path)
    assert run_state(tmp_path) == "interrupted"  # the study continues it from the checkpoint
    start_output(tmp_path, restart=False)
    assert not (tmp_path / "checkpoint.npz").exists() and run_state(tmp_path) == "failed"


@pytest.mark.mpi
def test_complete_result_refused_on_every_rank(shared_dir):
    """Rank 0 looks at the folder, every rank raises the same one-line error (no rank runs on alone)."""
    from fem_twin._dolfinx import MPI
    from fem_twin.commands.discharge import check_output_dir
    from fem_twin.errors import InputError

    comm = MPI.COMM_WORLD
    if comm.rank == 0:
        (shared_dir / "discharge.json").write_text('{"complete": true}')
    comm.Barrier()
    with pytest.raises(InputError, match="--overwrite"):
        check_output_dir(shared_dir, overwrite=False, restart=False)
    check_output_dir(shared_dir, overwrite=True, restart=False)  # no error on any rank
    check_output_dir(shared_dir, overwrite=False, restart=True)
    comm.Barrier()
