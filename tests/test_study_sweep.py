"""``fem-twin study sweep``: keys, values and every bad form; grid and Latin-hypercube cases; the
design and parameter set of a case; a tiny real structure-only sweep through the command line
(resumed); a sweep whose discharges are faked (CSV, summary, plots, resume, restart, refusal)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from fem_twin.cli import main
from fem_twin.errors import InputError
from fem_twin.study.sweep_cases import (Axis, SweepCase, check_axes, grid_points, lhs_points, lhs_unit, parse_axis,
                                        parse_fixed, sweep_cases)
from fem_twin.study.sweep_keys import build_design, parameter_overrides, parse_value, resolve_key

# a piece small enough for tests: 8 um wide and thick, small particles, the default electrode density
TINY = ["--set", "ncm_d50_um=3", "--set", "lpscl_d50_um=3", "--set", "thickness_um=8",
        "--set", "loading_mg_cm2=2.0512", "--size", "8", "--voxel", "1"]
TINY_FIXED = (("ncm_d50_um", 3.0), ("lpscl_d50_um", 3.0), ("thickness_um", 8.0), ("loading_mg_cm2", 2.0512))


# -- keys and values ---------------------------------------------------------------------------
def test_keys_and_aliases():
    assert resolve_key("ncm_wt").kind == "design"
    assert resolve_key("D_s").name == "d_ncm_m2_s" and resolve_key("d_s").name == "d_ncm_m2_s"
    assert resolve_key("k").name == "k_ncm" and resolve_key("binder_wt").name == "nbr_wt"
    assert resolve_key("SIGMA_NCM_S_M").name == "sigma_ncm_S_m"
    assert resolve_key("separator").kind == "cell"
    assert resolve_key("density_ncm_g_cm3").kind == "design"  # and a parameter: see test_design_and_parameters
    with pytest.raises(InputError, match="did you mean sigma_ncm_S_m, sigma_lpscl_S_m"):
        resolve_key("sigma")
    assert parse_value(resolve_key("li_contact"), "ideal") == "ideal"
    assert parse_value(resolve_key("freeze_electrolyte"), "True") is True
    assert parse_value(resolve_key("composition"), "70:28:2") == "70:28:2"
    assert parse_value(resolve_key("ncm_wt"), "65") == 65.0


def test_axes_grid_and_lhs_forms():
    assert parse_axis("ncm_wt=60,70,80,70,") == Axis("ncm_wt", values=(60.0, 70.0, 80.0))
    assert parse_axis("thickness=20:40:3").values == (20.0, 30.0, 40.0)
    assert parse_axis("k=1e-8:1e-6:3:log").values == pytest.approx((1e-8, 1e-7, 1e-6))
    assert parse_axis("composition=70:28:2,60:38:2").values == ("70:28:2", "60:38:2")
    a = parse_axis("D_s=1e-15:1e-13:log", lhs=True)
    assert (a.key, a.lo, a.hi, a.log) == ("d_ncm_m2_s", 1e-15, 1e-13, True)
    assert parse_fixed(["size=16", "T=298"]) == {"size_um": 16.0, "temperature_K": 298.0}


@pytest.mark.parametrize("text,lhs,words", [
    ("ncm_wt", False, ["--vary", "KEY=VALUES"]),
    ("ncm_wt=", False, ["--vary ncm_wt", "at least one value"]),
    ("nope=1,2", False, ["--vary", "a known key", "'nope'"]),
    ("ncm_wt=60,abc", False, ["--vary ncm_wt", "a number in [50, 90]", "'abc'"]),
    ("ncm_wt=60,95", False, ["--vary ncm_wt", "[50, 90]", "'95'"]),
    ("ncm_wt=60,,70", False, ["--vary ncm_wt", "without empty items"]),
    ("k=-1", False, ["--vary k_ncm", "a number in"]),
    ("li_contact=magic", False, ["--vary li_contact", "butler-volmer or ideal", "'magic'"]),
    ("freeze_electrolyte=maybe", False, ["--vary freeze_electrolyte", "true or false"]),
    ("composition=70:20:2", False, ["--vary composition", "summing to 100"]),
    ("ncm_wt=60:80", False, ["--vary ncm_wt", "needs --lhs"]),
    ("ncm_wt=80:60:3", False, ["--vary ncm_wt", "LO < HI"]),
    ("ncm_wt=60:80:1", False, ["--vary ncm_wt", "N >= 2"]),
    ("ncm_wt=60:80:x", False, ["--vary ncm_wt", "N >= 2"]),
    ("sigma_lpscl_S_m=0:1:3:log", False, ["--vary sigma_lpscl_S_m", "LO > 0"]),
    ("composition=70:28:2", True, ["--vary composition", "a numeric key with --lhs"]),
    ("li_contact=ideal", True, ["--vary li_contact", "a numeric key with --lhs"]),
    ("ncm_wt=60,70", True, ["--vary ncm_wt", "a range LO:HI"]),
    ("ncm_wt=70:60", True, ["--vary ncm_wt", "LO < HI"]),
    ("ncm_wt=60:70:lin", True, ["--vary ncm_wt", "LO:HI:log"]),
    ("ncm_wt=40:70", True, ["--vary ncm_wt", "[50, 90]", "'40'"]),
])
def test_bad_axis(text, lhs, words):
    with pytest.raises(InputError) as exc:
        parse_axis(text, lhs=lhs)
    msg = str(exc.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)


def test_bad_combinations():
    with pytest.raises(InputError, match="each key once"):
        check_axes([parse_axis("ncm_wt=60,70"), parse_axis("ncm=80")], {})
    with pytest.raises(InputError, match="--vary ncm_wt: expected a key that is not also fixed by --set"):
        check_axes([parse_axis("ncm_wt=60,70")], {"ncm_wt": 70.0})
    with pytest.raises(InputError, match="not together with composition"):
        check_axes([parse_axis("ncm_wt=60,70")], {"composition": "70:28:2"})
    with pytest.raises(InputError, match="not together with size_um"):
        check_axes([parse_axis("size=16,20")], {"size_x_um": 16.0})
    with pytest.raises(InputError, match="--set ncm_wt: expected each key once"):
        parse_fixed(["ncm_wt=60", "ncm=70"])
    with pytest.raises(InputError, match="--set"):
        parse_fixed(["ncm_wt"])
    with pytest.raises(InputError, match="with --grid"):
        grid_points([Axis("ncm_wt", lo=60.0, hi=70.0)])
    with pytest.raises(InputError, match="--lhs"):
        lhs_points([Axis("ncm_wt", values=(60.0,))], 4, np.random.default_rng(0))
    with pytest.raises(InputError, match="--lhs"):
        lhs_points([Axis("ncm_wt", lo=60.0, hi=70.0)], 0, np.random.default_rng(0))


# -- bad input through the command: one line, exit 2, nothing written ---------------------------
@pytest.mark.parametrize("extra,words", [
    (["--vary", "ncm_wt=60,95"], ["--vary ncm_wt", "[50, 90]"]),
    (["--vary", "sigma=1,2"], ["--vary", "did you mean"]),
    (["--vary", "ncm_wt=60:80", "--lhs", "0"], ["--lhs", "points >= 1"]),
    (["--vary", "composition=70:28:2", "--lhs", "4"], ["numeric key with --lhs"]),
    (["--vary", "k=1e-7,1e-6", "--no-discharge"], ["design keys only with --no-discharge", "k_ncm"]),
    (["--vary", "ncm_wt=60,70", "--jobs", "0"], ["--jobs", "an integer >= 1"]),
    (["--vary", "ncm_wt=60,70", "--seeds", "x"], ["--seeds"]),
    (["--vary", "ncm_wt=60,70", "--c-rates", "0"], ["--c-rates"]),
    (["--vary", "ncm_wt=60,70", "--cutoff", "5"], ["--cutoff"]),
    (["--vary", "ncm_d50_um=3,13"], ["ncm_d50_um=13", "domain size", "largest particle diameter"]),
    (["--vary", "ncm_wt=60,70", "--set", "density_ncm_g_cm3=1.5"], ["ncm_wt=60, seed 1: electrode density"]),
    (["--vary", "ncm_wt=60,70", "--set", "T=500"], ["temperature_K", "[200, 400]"]),
    (["--vary", "ncm_wt=85,90", "--set", "nbr_wt=12"], ["ncm_wt=90, seed 1: nbr_wt", "NCM + NBR <= 100"]),
    (["--vary", "ncm_wt=60,70", "--set", "nbr_wt=45"], ["--set nbr_wt", "[0, 20]"]),
    (["--vary", "ncm_wt=60,70", "--set", "ncm_d_max_um=2"], ["ncm_d_max_um", "> the D50"]),
    (["--vary", "ncm_wt=60,70", "--size", "30000", "--jobs", "2"], ["--jobs/--size/--voxel", "2 structure stage(s)",
                                                                  "fits in memory"]),
])
def test_bad_input_one_line(extra, words, tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = ["study", "sweep"] + TINY + extra + ["-o", str(out)]
    if "ncm_d50_um=3,13" in extra:
        argv.remove("ncm_d50_um=3"), argv.remove("--set")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("fem-twin study: error:"), err
    for w in words:
        assert w in err, (w, err)
    assert not out.exists()


def test_lhs_through_the_command(tmp_path, monkeypatch, capsys):
    import fem_twin.commands.study_sweep as cmd

    seen = []
    monkeypatch.setattr(cmd, "run_sweep", lambda root, cases, sw: seen.append(cases) or
                        [{"complete": True}] * len(cases))
    argv = ["study", "sweep", "--lhs", "4", "--lhs-seed", "7", "--vary", "ncm_wt=60:80", "--vary", "k=1e-8:1e-6:log",
            "--seeds", "1-2", "--c-rates", "0.5,1"] + TINY
    assert main(argv + ["-o", str(tmp_path / "a")]) == 0
    assert main(argv + ["-o", str(tmp_path / "b")]) == 0
    a, b = (json.loads((tmp_path / x / "sweep.json").read_text()) for x in "ab")
    assert a["points"] == b["points"] and len(a["points"]) == 4 and a["mode"] == "lhs" and a["lhs_seed"] == 7
    assert len(seen[0]) == 4 * 2 * 2 and seen[0] == seen[1]
    assert len({c.structure_dir(tmp_path) for c in seen[0]}) == 4 * 2  # 4 designs x 2 seeds, both C-rates share
    assert sorted(np.floor((np.array([p["ncm_wt"] for p in a["points"]]) - 60) / 5).astype(int)) == [0, 1, 2, 3]


def test_refuses_mpirun(tmp_path, monkeypatch, capsys):
    from fem_twin.commands.study_sweep import launched_ranks

    assert launched_ranks({}) == 1 and launched_ranks({"PMI_SIZE": "2"}) == 2
    assert launched_ranks({"OMPI_COMM_WORLD_SIZE": "4"}) == 4
    monkeypatch.setenv("PMI_SIZE", "2")
    assert main(["study", "sweep", "--vary", "ncm_wt=60,70", "-o", str(tmp_path / "s")]) == 2
    assert "mpirun: expected one process" in capsys.readouterr().err and not (tmp_path / "s").exists()


# -- cases -----------------------------------------------------------------------------------
def test_grid_cases_and_folders(tmp_path):
    axes = [parse_axis("ncm_d50_um=5,9,13"), parse_axis("ncm_wt=60,70,80"), parse_axis("k=1e-7,1e-6")]
    points = grid_points(axes)
    assert len(points) == 18 and points[0] == {"ncm_d50_um": 5.0, "ncm_wt": 60.0, "k_ncm": 1e-7}
    assert points[1]["k_ncm"] == 1e-6 and points[2]["ncm_wt"] == 70.0  # the last axis runs fastest
    assert len({tuple(p.items()) for p in points}) == 18
    cases = sweep_cases(points, [1, 2], [0.1, 1.0])
    assert len(cases) == 72 and [c.seed for c in cases[:36]] == [1] * 36  # seed by seed
    # within a seed C-rate by C-rate: the two runs of a point 18 cases apart, not together
    assert [c.c_rate for c in cases[:36]] == [0.1] * 18 + [1.0] * 18
    assert all(a.point == b.point and a.seed == b.seed for a, b in zip(cases[:18], cases[18:36]))
    c = cases[18]
    assert c.structure_dir(tmp_path) == tmp_path / "ncm_d50_um=5_ncm_wt=60_seed=1"
    assert c.run_dir(tmp_path) == tmp_path / "ncm_d50_um=5_ncm_wt=60_seed=1" / "k_ncm=1e-07_c1C"
    # parameter points share their structure; every case has its own run folder
    assert len({x.structure_dir(tmp_path) for x in cases}) == 18
    assert len({x.run_dir(tmp_path) for x in cases}) == 72
    assert SweepCase((("k_ncm", 1e-7),), 3, 0.5).structure_dir(tmp_path) == tmp_path / "seed=3"
    s = SweepCase((("composition", "70:28:2"),), 1, None)
    assert s.structure_dir(tmp_path).name == "composition=70-28-2_seed=1"
    with pytest.raises(InputError):
        s.run_dir(tmp_path)


def test_lhs_strata_and_reproducible():
    u = lhs_unit(7, 3, np.random.default_rng(5))
    for j in range(3):  # each of the 7 strata of every dimension holds exactly one point
        assert sorted(np.floor(u[:, j] * 7).astype(int)) == list(range(7))
    axes = [parse_axis("ncm_wt=60:80", lhs=True), parse_axis("k=1e-8:1e-6:log", lhs=True)]
    pts = lhs_points(axes, 10, np.random.default_rng(42))
    assert pts == lhs_points(axes, 10, np.random.default_rng(42))
    assert pts != lhs_points(axes, 10, np.random.default_rng(43))
    w = np.array([p["ncm_wt"] for p in pts])
    k = np.array([p["k_ncm"] for p in pts])
    assert sorted(np.floor((w - 60) / 20 * 10).astype(int)) == list(range(10))
    assert sorted(np.floor((np.log10(k) + 8) / 2 * 10).astype(int)) == list(range(10))  # strata in log10
    assert all(f"{v:.6g}" == repr(v) or float(f"{v:.6g}") == v for v in w)  # rounded as the folders write them


def test_design_and_parameters():
    from fem_twin.design import default_ncm_psd
    from fem_twin.parameters.cell import ParameterSet

    d = build_design({"ncm_wt": 60.0, "nbr_wt": 3.0, "ncm_d50_um": 5.0, "size_um": 16.0, "separator_um": 5.0,
                      "k_ncm": 1e-6})
    assert d.composition.as_tuple() == (60.0, 37.0, 3.0)
    assert d.ncm_psd.quantile(0.5) == pytest.approx(5.0)
    assert d.ncm_psd.d_max == pytest.approx(16.0 * 5.0 / default_ncm_psd().quantile(0.5))
    assert (d.size_x_um, d.size_y_um) == (16.0, 16.0) and d.lpscl_psd == build_design({}).lpscl_psd
    t = build_design({"ncm_d50_um": 13.0, "ncm_d_max_um": 16.0, "size_um": 16.0})
    assert t.ncm_psd.d_max == 16.0 and t.ncm_psd.cumulative[-1] == 1.0
    assert t.ncm_psd.quantile(0.5) == pytest.approx(13.0)  # the D50 asked for, after the cut at 16 um
    assert build_design({"composition": "80:18:2"}).composition.ncm == 80.0
    from fem_twin.study.cases import StudySettings
    from fem_twin.study.sweep_runner import SweepSettings

    sw = SweepSettings(study=StudySettings(size_x_um=20.0, size_y_um=30.0, voxel_um=1.0, separator_um=7.0))
    for point, size in (((), (20.0, 30.0)), ((("size_x_um", 25.0),), (25.0, 30.0)), ((("size_um", 18.0),), (18.0, 18.0))):
        case = SweepCase(point, 1, 1.0)
        d = sw.design(case)
        assert (d.size_x_um, d.size_y_um, d.voxel_um) == (*size, 1.0)
        assert sw.case_study(case, Path("r")).separator_um == 7.0
    over = parameter_overrides({"k_ncm": 1e-6, "ncm_wt": 60.0, "density_ncm_g_cm3": 4.7, "li_contact": "ideal"})
    assert over == {"k_ncm": 1e-6, "density_ncm_g_cm3": 4.7, "li_contact": "ideal"}
    ps = ParameterSet().with_overrides({**over, "ocp": {"x": [0.2, 0.6, 1.0], "u_V": [4.4, 3.8, 3.4]}})
    assert ps.k_ncm == 1e-6


def test_parameters_toml_round_trip(tmp_path):
    from fem_twin.parameters.cell import ParameterSet
    from fem_twin.study.sweep_runner import parameters_toml

    for ps in (ParameterSet().with_overrides({"k_ncm": 3.3e-7, "freeze_electrolyte": True, "li_contact": "ideal"}),
               ParameterSet().with_overrides({"ocp": {"x": [0.2, 0.6, 1.0], "u_V": [4.4, 3.8, 3.4], "extend": True}})):
        p = tmp_path / "p.toml"
        p.write_text(parameters_toml(ps))
        assert ParameterSet.from_toml(p) == ps


# -- a tiny real structure-only sweep through the command line ---------------------------------
def test_structure_sweep_cli_resumes(tmp_path, capsys):
    from fem_twin.study.sweep_tables import CASE_COLUMNS, SWEEP_CSV, read_sweep_csv

    out = tmp_path / "sw"
    argv = (["study", "sweep", "--vary", "ncm_wt=60,80", "--seeds", "1", "--no-discharge", "--conductivity",
             "--jobs", "2"] + TINY + ["-o", str(out)])
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert text.count("done in") == 2 and "[reused]" not in text
    rows = read_sweep_csv(out / SWEEP_CSV)
    assert (out / SWEEP_CSV).read_text().splitlines()[0].split(",") == ["ncm_wt"] + CASE_COLUMNS
    assert [r["ncm_wt"] for r in rows] == [60.0, 80.0] and all(r["complete"] for r in rows)
    for r, w in zip(rows, (60.0, 80.0)):
        design = build_design({**dict(TINY_FIXED), "ncm_wt": w, "size_um": 8.0, "voxel_um": 1.0})
        assert r["vf_ncm"] == pytest.approx(design.volume_fractions().ncm, abs=0.03)
        assert r["structure_dir"] == f"ncm_wt={w:g}_seed=1" and r["c_rate"] is None
        assert r["sigma_eff_ncm_S_per_m"] is not None and r["contact_area_ncm_lpscl_um2"] > 0
        assert r["status"] == "structure ok"
    assert rows[1]["sigma_eff_ncm_S_per_m"] > rows[0]["sigma_eff_ncm_S_per_m"]  # more NCM conducts better
    d = json.loads((out / "sweep.json").read_text())
    assert d["points"] == [{"ncm_wt": 60.0}, {"ncm_wt": 80.0}] and d["discharge"] is False
    assert (out / "sweep_conductivity.png").stat().st_size > 10_000
    # again: nothing runs
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert text.count("[reused]") == 2 and "done in" not in text
    # a structure of another design in the same folder is refused, nothing changes
    argv2 = [a if a != "thickness_um=8" else "thickness_um=9" for a in argv]
    assert main(argv2) == 2
    assert "structure.npz" in capsys.readouterr().err


# -- discharges faked --------------------------------------------------------------------------
FAKE_DISCHARGE = r"""
import json, sys
from pathlib import Path
from fem_twin.fem.settings import DischargeSettings
from fem_twin.microstructure.image import VoxelImage
sd, settings, rd, mode = sys.argv[1:5]
rd = Path(rd)
st = DischargeSettings.load(settings)
ps = st.parameters()
img = VoxelImage.load(sd)
if mode == "fail":
    print("RuntimeError: boom error", file=sys.stderr); sys.exit(1)
stop = mode == "interrupt"
design = img.design
q = 100.0 + 10.0 * (design.composition.ncm - 60.0) / 10.0 + 1e7 * ps.k_ncm + img.seed
rows = ["time_s,step,voltage_V,current_A,capacity_mAh_per_g,capacity_mAh_per_cm2"]
for k in range(6 if not stop else 3):
    rows.append(f"{k * 100.0},0,{4.2 - 0.2 * k},1e-9,{q * k / 5},{q * k / 500}")
(rd / "discharge.csv").write_text("\n".join(rows) + "\n")
if stop:
    (rd / "checkpoint.npz").write_bytes(b"x")
s = {"complete": not stop, "message": "ok", "protocol": st.protocol_object().describe(),
     "steps": [{"ended_by": "cut-off 3 V"}], "capacity_mAh_per_g": q, "capacity_mAh_per_cm2": q / 100,
     "parameters": json.loads(json.dumps(ps.to_dict(), default=str)),
     "mesh": {"voxels": list(img.shape), "voxel_um": img.voxel_size_um, "separator_um": st.separator.thickness_um,
              "separator_growth": st.separator.growth, "mesher": st.mesher, "unknowns": 99},
     "transport": {"transport": st.transport},
     "solver": {"newton_iterations": 7}, "accepted_rows": 6, "wall_time_s": 0.5}
if stop:
    s["interrupted_at_time_s"] = 200.0
(rd / "discharge.json").write_text(json.dumps(s))
sys.exit(1 if stop else 0)
"""


class FakeDischarge:
    def __init__(self):
        self.calls = []
        self.modes = {}

    def __call__(self, case, root, st, restart, fields):
        from fem_twin.study.cases import CASE_SETTINGS

        self.calls.append((case, restart))
        rd = case.run_dir(root)
        path = st.discharge_settings(case.c_rate, fields).save(rd / CASE_SETTINGS)
        mode = self.modes.get((case.values.get("ncm_wt"), case.values.get("k_ncm"), case.seed), "ok")
        if restart and mode == "interrupt":
            mode = "ok"
        return [sys.executable, "-c", FAKE_DISCHARGE, str(case.structure_dir(root)), str(path), str(rd), mode]


def test_sweep_with_faked_discharges(tmp_path, capsys):
    from fem_twin.post.sweep_plots import CAPACITY_PNG, STRUCTURE_PNG
    from fem_twin.study.cases import StudySettings
    from fem_twin.study.sweep_runner import SweepSettings, run_sweep, structure_command
    from fem_twin.study.sweep_tables import SWEEP_CSV, SWEEP_SUMMARY_CSV, read_sweep_csv
    from test_study_discharge import _not_blank

    structure_calls = []

    def structure(sd):
        structure_calls.append(sd)
        return structure_command(sd)

    root = tmp_path / "sw"
    st = StudySettings(size_x_um=8.0, size_y_um=8.0, voxel_um=1.0, separator_um=2.0, mesher="voxel", ranks=1,
                       fields="none")
    sw = SweepSettings(study=st, fixed=TINY_FIXED, jobs=2)
    points = grid_points([parse_axis("ncm_wt=60,80"), parse_axis("k=1e-7,3e-7")])
    cases = sweep_cases(points, [1, 2], [1.0])
    fake = FakeDischarge()
    fake.modes = {(80.0, 3e-7, 2): "fail", (60.0, 1e-7, 2): "interrupt"}
    rows = run_sweep(root, cases, sw, structure_cmd=structure, discharge_cmd=fake)
    out = capsys.readouterr().out
    assert len(structure_calls) == 4  # 2 compositions x 2 seeds; the k points share them
    assert len(rows) == 8 and len(fake.calls) == 8 and "FAILED" in out
    table = read_sweep_csv(root / SWEEP_CSV)
    assert len(table) == 8 and sum(r["complete"] for r in table) == 6
    by = {(r["ncm_wt"], r["k_ncm"], r["seed"]): r for r in table}
    good = by[(80.0, 1e-7, 1)]
    assert good["capacity_mAh_per_g"] == pytest.approx(100 + 20 + 1 + 1)  # the case's design, k and seed
    assert good["voltage_end_V"] == pytest.approx(3.2) and good["status"] == "cut-off 3 V"
    assert good["unknowns"] == 99 and good["vf_ncm"] > 0.4 and good["run_dir"] == "ncm_wt=80_seed=1/k_ncm=1e-07_c1C"
    assert (root / "ncm_wt=80_seed=1" / "k_ncm=1e-07_c1C" / "params.toml").exists()
    assert "boom" in by[(80.0, 3e-7, 2)]["status"] and not by[(80.0, 3e-7, 2)]["complete"]
    assert "interrupted" in by[(60.0, 1e-7, 2)]["status"]
    summary = {(float(r.split(",")[0]), float(r.split(",")[1])): r.split(",")
               for r in (root / SWEEP_SUMMARY_CSV).read_text().splitlines()[1:]}
    assert len(summary) == 4
    s = summary[(80.0, 1e-7)]  # mean/std/min/max of seeds 1, 2: 122, 123
    assert [float(x) for x in s[5:9]] == pytest.approx([122.5, np.std([122, 123], ddof=1), 122.0, 123.0])
    for name in (CAPACITY_PNG, STRUCTURE_PNG):
        _not_blank(root / name)

    # again: complete cases and every structure are reused; the failed one runs again, the interrupted one restarts
    fake.calls.clear()
    fake.modes = {}
    structure_calls.clear()
    rows = run_sweep(root, cases, sw, structure_cmd=structure, discharge_cmd=fake, plots=False)
    assert structure_calls == []
    assert sorted((c.values["ncm_wt"], c.values["k_ncm"], c.seed, r) for c, r in fake.calls) == [
        (60.0, 1e-7, 2, True), (80.0, 3e-7, 2, False)]
    assert all(r["complete"] for r in rows)
    capsys.readouterr()
    fake.calls.clear()
    run_sweep(root, cases, sw, structure_cmd=structure, discharge_cmd=fake, plots=False)
    assert fake.calls == [] and capsys.readouterr().out.count("[reused]") == 8 + 4

    # an error while preparing a case is recorded in its row, the sweep goes on
    def broken(*a):
        raise RuntimeError("no launcher")

    more = sweep_cases(points[:2], [1], [0.5])
    rows = run_sweep(root, more, sw, structure_cmd=structure, discharge_cmd=broken, plots=False)
    assert [r["complete"] for r in rows] == [False, False] and "RuntimeError: no launcher" in rows[0]["status"]
    assert structure_calls == [] and len(read_sweep_csv(root / SWEEP_CSV)) == 2

    # finished discharges of other settings are refused, not mixed in
    import dataclasses

    with pytest.raises(InputError, match="separator"):
        run_sweep(root, cases, dataclasses.replace(sw, study=dataclasses.replace(st, separator_um=3.0)),
                  structure_cmd=structure, discharge_cmd=fake)


def test_structure_ready(tmp_path):
    from fem_twin.study.sweep_runner import structure_ready

    for name in ("structure.npz", "analysis.json", "sweep_structure.json"):
        assert not structure_ready(tmp_path, False)
        (tmp_path / name).write_text("{}")
    assert structure_ready(tmp_path, False) and not structure_ready(tmp_path, True)
    for phase in ("ncm", "lpscl"):
        (tmp_path / f"conductivity_{phase}.json").write_text(json.dumps({"method": "fv"}))
    assert structure_ready(tmp_path, True, "fv") and not structure_ready(tmp_path, True, "p1")  # another method: again


def test_failed_structure_recorded(tmp_path, capsys):
    from fem_twin.study.cases import StudySettings
    from fem_twin.study.sweep_runner import SweepSettings, run_sweep
    from fem_twin.study.sweep_tables import SWEEP_CSV, read_sweep_csv

    def failing(sd):
        return [sys.executable, "-c", "import sys; print('ValueError: generator boom'); sys.exit(1)"]

    calls = []
    sw = SweepSettings(study=StudySettings(size_x_um=8.0, size_y_um=8.0, voxel_um=1.0), fixed=TINY_FIXED)
    cases = sweep_cases(grid_points([parse_axis("ncm_wt=60,70")]), [1], [1.0])
    rows = run_sweep(tmp_path, cases, sw, structure_cmd=failing, discharge_cmd=lambda *a: calls.append(a), plots=False)
    assert calls == []  # nothing to discharge
    assert [r["complete"] for r in rows] == [False, False]
    assert rows[0]["status"] == "structure failed (exit 1): ValueError: generator boom"
    assert read_sweep_csv(tmp_path / SWEEP_CSV)[1]["status"] == rows[1]["status"]
    assert "FAILED" in capsys.readouterr().out


def test_panel_lines_and_scatter():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fem_twin.post.sweep_plots import panel

    rows = [{"a": a, "b": b, "seed": s, "complete": True, "q": a + 10 * (b == "y") + s}
            for a in (1.0, 2.0, 3.0) for b in ("x", "y") for s in (1, 2)]
    fig, ax = plt.subplots()
    assert panel(ax, rows, "a", ["a", "b"], "q") == 2  # one line per value of the other key
    assert panel(ax, rows, "b", ["a", "b"], "q") == 3
    lhs = [{"a": float(i), "b": float(i * i), "complete": True, "q": float(i)} for i in range(5)]
    assert panel(ax, lhs, "a", ["a", "b"], "q") == 0  # a Latin hypercube: a scatter
    plt.close(fig)
