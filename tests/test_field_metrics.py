"""``fem_twin.post.field_metrics`` and ``fem-twin metrics``: exact integrals on simplices, weighted
statistics, and on a real discharge output the two balances (interface current = cell current,
volume-mean lithiation = discharge.csv's)."""

import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from fem_twin.post.field_metrics import band_index, cell_means, simplex_measures, weighted_stats

# the unit cube's 8 corners and its 6 Kuhn tetrahedra (all share the diagonal 0-7)
CORNERS = np.array([[i & 1, (i >> 1) & 1, (i >> 2) & 1] for i in range(8)], float)
KUHN = np.array([[0, 1, 3, 7], [0, 1, 5, 7], [0, 2, 3, 7], [0, 2, 6, 7], [0, 4, 5, 7], [0, 4, 6, 7]])


def test_simplex_measures_of_a_box_and_its_faces():
    pts = CORNERS * [2.0, 1.0, 3.0]  # a 2 x 1 x 3 box
    vol = simplex_measures(pts, KUHN)
    assert vol.sum() == pytest.approx(6.0, rel=1e-14)
    assert np.allclose(vol, 1.0)  # Kuhn tetrahedra of a box have equal volumes
    bottom = np.array([[0, 1, 3], [0, 3, 2]])  # the z = 0 face, 2 x 1
    assert simplex_measures(pts, bottom).sum() == pytest.approx(2.0, rel=1e-14)
    with pytest.raises(ValueError, match="cells must be"):
        simplex_measures(pts, np.zeros((2, 5), int))


def test_cell_means_integrate_a_linear_field_exactly():
    pts = CORNERS * [2.0, 1.0, 1.0]
    f = 3 * pts[:, 0] + 2 * pts[:, 1] - pts[:, 2] + 1.0  # its mean over [0,2]x[0,1]x[0,1] is 4.5
    vol = simplex_measures(pts, KUHN)
    m = cell_means(f, KUHN, "Node")
    assert float(np.dot(m, vol) / vol.sum()) == pytest.approx(4.5, rel=1e-14)
    assert np.array_equal(cell_means(np.arange(6.0), KUHN, "Cell"), np.arange(6.0))
    with pytest.raises(ValueError, match="cell values"):
        cell_means(np.arange(5.0), KUHN, "Cell")
    with pytest.raises(ValueError, match="centre"):
        cell_means(f, KUHN, "Edge")


def test_weighted_stats_by_hand():
    s = weighted_stats(np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 2.0]), threshold=1.5)
    assert s.mean == pytest.approx(2.25)
    assert s.std == pytest.approx(math.sqrt((1.25 ** 2 + 0.25 ** 2 + 2 * 0.75 ** 2) / 4))
    assert s.cv == pytest.approx(s.std / 2.25)
    assert (s.p05, s.p50, s.p95) == (1.0, 2.0, 3.0)
    assert s.fraction_above == pytest.approx(0.75) and s.total_weight == 4.0
    assert weighted_stats(np.array([-1.0, 1.0]), np.ones(2)).cv is None  # mean 0
    for v, w in ((np.ones(3), np.ones(2)), (np.ones(2), np.zeros(2)), (np.ones(2), np.array([2.0, -1.0]))):
        with pytest.raises(ValueError):
            weighted_stats(v, w)


def test_band_index():
    z = np.array([-1.0, 0.0, 0.99, 1.0, 2.0, 2.99, 3.0, 4.0])
    assert band_index(z, 0.0, 3.0, 3).tolist() == [0, 0, 0, 1, 2, 2, 2, 2]
    with pytest.raises(ValueError):
        band_index(z, 1.0, 1.0, 3)


def test_metrics_of_a_real_discharge(tmp_path):
    from test_discharge import column_run_with_fields

    out = tmp_path / "case"
    res = column_run_with_fields(out)
    assert res.complete, res.message
    study = tmp_path / "study"
    shutil.copytree(out, study / "ncm70_seed1" / "c2C")
    cli = [sys.executable, "-m", "fem_twin.cli", "metrics"]
    # h5py (the reader's) and DOLFINx's HDF5 must not share a process: a fresh one
    p = subprocess.run(cli + [str(out), "--dod", "0,0.5,end", "-o", str(tmp_path / "m")], capture_output=True,
                       text=True, timeout=120, env=os.environ.copy())
    assert p.returncode == 0, p.stderr[-3000:]
    frames = json.loads((tmp_path / "m" / "field_metrics.json").read_text())
    assert [f["requested_dod"] for f in frames] == [0.0, 0.5, 1.0]
    for f in frames:
        # the area integral of j (um2 -> m2) is the cell current (discharge: cathodic, j < 0)
        assert -f["j_integral_A"] / f["current_A"] == pytest.approx(1.0, abs=1e-6)
        assert f["current_check"] == pytest.approx(1.0, abs=1e-6) and f["threshold"] == 0.8
        # the volume mean of the P1 lithiation is discharge.csv's mean lithiation
        assert f["lithiation"]["mean"] == pytest.approx(f["mean_lithiation_csv"], abs=1e-7)
        assert len(f["lithiation_bands"]) == 3
        band_vol = sum(b["total_weight"] for b in f["lithiation_bands"])
        assert band_vol == pytest.approx(f["lithiation"]["total_weight"], rel=1e-12)
        assert f["li_flux_mol_m2_s"]["mean"] > 0 and f["eta_V"]["mean"] < 0
    assert frames[0]["lithiation"]["mean"] == pytest.approx(0.27, abs=1e-9)  # the initial lithiation
    assert frames[-1]["lithiation"]["mean"] > frames[0]["lithiation"]["mean"] + 0.05
    assert "| case | 1.00 |" in p.stdout and "1.0000 |" in p.stdout
    # a study folder: every case with fields, labelled by composition, C-rate and seed
    p = subprocess.run(cli + [str(study)], capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert p.returncode == 0, p.stderr[-3000:]
    assert "| 70 wt%, 2C, seed 1 | 1.00 |" in p.stdout
    # a run whose kinetics are weighted by |n_s . n| ("smoothed-normal"): the plain integral is no check
    sn = tmp_path / "sn"
    shutil.copytree(out, sn)
    summary = json.loads((sn / "discharge.json").read_text())
    summary["parameters"]["interface_area"] = "smoothed-normal"
    (sn / "discharge.json").write_text(json.dumps(summary))
    p = subprocess.run(cli + [str(sn)], capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert p.returncode == 0, p.stderr[-3000:]
    assert json.loads((sn / "field_metrics.json").read_text())[0]["current_check"] is None
    assert p.stdout.splitlines()[2].endswith("| n/a |"), p.stdout
    rows = (study / "field_metrics.csv").read_text().splitlines()
    assert len(rows) == 2 and "lithiation_band3_fraction_above" in rows[0]
    assert rows[0].startswith("ncm_wt,c_rate,seed,") and rows[1].startswith("70,2,1,")  # for study statements

    # a case whose fields are gone (they stay out of git) counts by the field_metrics.json that
    # 'fem-twin metrics CASE' wrote into it while they were there
    p = subprocess.run(cli + [str(out), "--dod", "0.5,end"], capture_output=True, text=True, timeout=120,
                       env=os.environ.copy())
    assert p.returncode == 0, p.stderr[-3000:]
    shutil.copytree(out, study / "ncm80_seed1" / "c2C", ignore=shutil.ignore_patterns("fields_*"))
    p = subprocess.run(cli + [str(study), "--dod", "0.5,end"], capture_output=True, text=True, timeout=120,
                       env=os.environ.copy())
    assert p.returncode == 0 and not p.stderr.strip(), p.stderr[-3000:]
    got = {(r["ncm_wt"], r["requested_dod"]): r for r in json.loads((study / "field_metrics.json").read_text())}
    assert sorted(got) == [(70.0, 0.5), (70.0, 1.0), (80.0, 0.5), (80.0, 1.0)]
    for d in (0.5, 1.0):
        fresh, saved = got[(70.0, d)], got[(80.0, d)]
        assert saved["run_dir"] == str(study / "ncm80_seed1" / "c2C")
        # (equal to rounding: a threaded BLAS may sum in another order in another process)
        assert _numbers(saved) == pytest.approx(_numbers(fresh), rel=1e-12, abs=1e-300, nan_ok=True)
        assert len(_numbers(saved)) > 40 and set(saved) - {"ncm_wt"} == set(fresh) - {"ncm_wt"}
    assert "| 80 wt%, 2C, seed 1 | 1.00 |" in p.stdout
    # a depth it did not save is left out, and said
    p = subprocess.run(cli + [str(study), "--dod", "0.3,end"], capture_output=True, text=True, timeout=120,
                       env=os.environ.copy())
    assert p.returncode == 0 and "c2C: no fields" in p.stderr and "lacks DOD 0.3" in p.stderr, p.stderr
    got = [(r["ncm_wt"], r["requested_dod"]) for r in json.loads((study / "field_metrics.json").read_text())]
    assert got == [(70.0, 0.3), (70.0, 1.0), (80.0, 1.0)]


def _numbers(record: dict, skip=("ncm_wt", "run_dir")) -> list[float]:
    """Every number of a field_metrics.json record in key order (None as nan), nested ones too."""
    out = []
    for k in sorted(record):
        if k in skip:
            continue
        v = record[k]
        if isinstance(v, dict):
            out += _numbers(v, ())
        elif isinstance(v, list):
            for item in v:
                out += _numbers(item, ()) if isinstance(item, dict) else [float("nan") if item is None else item]
        else:
            out.append(float("nan") if v is None else v)
    return out


def test_metrics_bad_input(tmp_path, capsys):
    from fem_twin.cli import main

    for argv, names in ((["missing"], ("existing directories", "missing")),
                        ([""], ("fields_*.xdmf", "study folder")),  # neither a case with fields nor a study
                        (["", "--dod", "1.5"], ("--dod", "1.5")),
                        (["", "--threshold", "1.2"], ("--threshold", "[0, 1]", "1.2")),
                        (["", "--bands", "0"], ("--bands", ">= 1"))):
        argv = [str(tmp_path / argv[0]) if argv[0] else str(tmp_path)] + argv[1:]
        assert main(["metrics"] + argv) == 2
        err = capsys.readouterr().err
        assert all(n in err for n in names), (argv, err)


def test_a_depth_band_without_ncm_gives_empty_cells():
    from fem_twin.post.field_metrics import FrameMetrics, metrics_table

    s = weighted_stats(np.array([0.5, 0.9]), np.array([1.0, 1.0]), threshold=0.8)
    f = FrameMetrics("run", 1.0, 1.0, 10.0, 3.5, 100.0, 1e-9, 0.7, s, [s, None, s], None, None, None, None, None)
    row = f.row()
    assert row["lithiation_band2_mean"] is None and row["lithiation_band3_fraction_above"] == pytest.approx(0.5)
    assert "| 0.500 / 0.500 / 0.500 |" in metrics_table([f]) and metrics_table([f]).endswith("| n/a |")
