"""``fem-twin study discharge`` and ``fem-twin render``: case list, resume, failures, tables, band
plots (on synthetic discharge files written by a fake worker, no FEM), bad input, and the field
pictures of a real tiny XDMF time series."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fem_twin.commands.study_discharge import (CSV_COLUMNS, STUDY_CSV, SUMMARY_CSV, Case, StudySettings,
                                               case_list, read_study_csv, register, register_study_discharge,
                                               run_state, run_study, summarise, summary_table)
from fem_twin.errors import InputError
from fem_twin.post.discharge_plots import BY_COMPOSITION_PNG, BY_RATE_PNG, plot_study_curves, seed_band
from fem_twin.post.field_pictures import parse_dods

# A fake worker: writes discharge.csv/json like a real run (V falls from 4.2 V to the cut-off at
# capacity q_end), fails with exit 1 when asked, or stops as if SIGTERM'd (checkpoint.npz).
FAKE_WORKER = r"""
import csv, json, sys
from pathlib import Path
rd, ncm, rate, seed, mode, proto, params, sep, size, fields = sys.argv[1:11]
ncm, rate, seed, sep, size = float(ncm), float(rate), int(seed), float(sep), float(size)
rd = Path(rd); rd.mkdir(parents=True, exist_ok=True)
if mode == "fail":
    print("Traceback: something", file=sys.stderr); print("RuntimeError: boom error", file=sys.stderr)
    sys.exit(1)
q_end = 150.0 - 0.5 * (ncm - 60.0) - 20.0 * rate + 2.0 * seed
n = 12
rows = []
for k in range(n + 1):
    q = q_end * k / n
    rows.append({"time_s": q / 180.0 * 3600.0 / rate, "step": 0, "voltage_V": 4.2 - 1.2 * (q / q_end) ** 3,
                 "current_A": 1e-9 * rate, "capacity_mAh_per_g": q, "capacity_mAh_per_cm2": q * 0.01})
stop = mode == "interrupt"
if stop:
    rows = rows[:5]
    (rd / "checkpoint.npz").write_bytes(b"x")
with open(rd / "discharge.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0])); w.writeheader(); w.writerows(rows)
s = {"complete": not stop, "message": "interrupted (SIGTERM), checkpoint written" if stop else "ok",
     "protocol": proto, "steps": [{"ended_by": "cut-off 3 V"}] if not stop else [],
     "capacity_mAh_per_g": rows[-1]["capacity_mAh_per_g"], "capacity_mAh_per_cm2": rows[-1]["capacity_mAh_per_cm2"],
     "parameters": json.loads(Path(params).read_text()),
     "mesh": {"voxels": [int(size / 0.5), int(size / 0.5), 78], "voxel_um": 0.5, "separator_um": sep,
              "separator_growth": 1.5,
              "unknowns": 1234, "interface_area_um2": 100.0 + seed},
     "dead_clusters": {"dead_ncm_fraction": 0.01 * seed, "dead_lpscl_fraction": 0.002},
     "transport": {"transport": "fv-matched"},
     "solver": {"newton_iterations": 40}, "accepted_rows": len(rows), "wall_time_s": 1.5}
if stop:
    s["interrupted_at_time_s"] = rows[-1]["time_s"]
(rd / "discharge.json").write_text(json.dumps(s))
if fields == "1":
    (rd / "fields_ncm.xdmf").write_text("<Xdmf/>")
sys.exit(1 if stop else 0)
"""


@pytest.fixture
def fake(tmp_path):
    """A ``command`` for run_study running FAKE_WORKER; ``modes[(ncm, rate, seed)]`` picks a behaviour."""
    from fem_twin.parameters.cell import ParameterSet
    from fem_twin.protocol import Protocol

    params = tmp_path / "params.json"
    params.write_text(json.dumps(ParameterSet().to_dict(), default=lambda o: o.tolist() if hasattr(o, "tolist")
                                 else str(o)))

    class Fake:
        modes: dict = {}
        calls: list = []
        write_fields = False  # (the worker writes an empty fields_ncm.xdmf when the case has fields)

        def __call__(self, case, root, st, restart, fields):
            self.calls.append((case, restart, fields))
            mode = self.modes.get((case.ncm_wt, case.c_rate, case.seed), "ok")
            if restart and mode == "interrupt":
                mode = "ok"
            proto = Protocol.parse(st.protocol_text(case.c_rate)).describe()
            return [sys.executable, "-c", FAKE_WORKER, str(case.run_dir(root)), str(case.ncm_wt), str(case.c_rate),
                    str(case.seed), mode, proto, str(params), str(st.separator_um), str(st.size_x_um),
                    "1" if (fields and self.write_fields) else "0"]

    f = Fake()
    f.modes, f.calls = {}, []
    return f


def no_structure(case, root, st):
    Path(case.structure_dir(root)).mkdir(parents=True, exist_ok=True)


ST = StudySettings(mesher="voxel", size_x_um=16.0, size_y_um=16.0, separator_um=5.0, ranks=1)


def test_case_list_order_and_folders(tmp_path):
    cases = case_list([60, 70], [0.1, 1], [1, 2])
    assert len(cases) == 8
    assert [c.seed for c in cases] == [1] * 4 + [2] * 4  # the first seed covers the table first
    assert cases[0] == Case(60.0, 0.1, 1)
    assert cases[1] == Case(70.0, 0.1, 1)  # C-rate by C-rate: a structure's runs not together
    assert cases[2].run_dir(tmp_path) == tmp_path / "ncm60_seed1" / "c1C"
    assert Case(70.5, 0.5, 3).run_dir(tmp_path) == tmp_path / "ncm70p5_seed3" / "c0.5C"


def test_run_state(tmp_path):
    assert run_state(tmp_path / "nothing") == "new"
    (tmp_path / "discharge.json").write_text(json.dumps({"complete": False, "message": "step failed"}))
    assert run_state(tmp_path) == "failed"
    (tmp_path / "checkpoint.npz").write_bytes(b"x")
    assert run_state(tmp_path) == "failed"  # a numerical failure is run again from the start
    (tmp_path / "discharge.json").write_text(json.dumps({"complete": False, "interrupted_at_time_s": 10.0}))
    assert run_state(tmp_path) == "interrupted"
    (tmp_path / "discharge.json").unlink()
    assert run_state(tmp_path) == "interrupted"  # killed after a checkpoint
    (tmp_path / "discharge.json").write_text(json.dumps({"complete": True}))
    assert run_state(tmp_path) == "complete"


def test_study_records_failure_resumes_and_aggregates(tmp_path, fake, capsys):
    root = tmp_path / "study"
    cases = case_list([60, 80], [0.5, 1], [1, 2])
    fake.modes = {(80.0, 1.0, 2): "fail", (60.0, 0.5, 2): "interrupt"}
    rows = run_study(root, cases, ST, command=fake, structure=no_structure)
    out = capsys.readouterr().out
    assert len(rows) == 8 and out.count("[") >= 8 and "[8/8]" in out and "FAILED" in out
    fields = {(c.ncm_wt, c.c_rate, c.seed): f for c, _, f in fake.calls}
    assert fields[(60.0, 0.5, 1)] and not fields[(60.0, 0.5, 2)]  # XDMF fields for the first seed only
    bad = [r for r in rows if (r["ncm_wt"], r["c_rate"], r["seed"]) == (80.0, 1.0, 2)][0]
    assert not bad["complete"] and "exit 1" in bad["ended_by"] and "boom" in bad["ended_by"]
    stopped = [r for r in rows if (r["ncm_wt"], r["c_rate"], r["seed"]) == (60.0, 0.5, 2)][0]
    assert not stopped["complete"] and "interrupted" in stopped["ended_by"]
    assert (root / "ncm80_seed2" / "c1C" / "run.log").read_text().splitlines()[-1] == "RuntimeError: boom error"

    table = read_study_csv(root / STUDY_CSV)
    assert (root / STUDY_CSV).read_text().splitlines()[0].split(",") == CSV_COLUMNS
    assert len(table) == 8 and sum(r["complete"] for r in table) == 6
    good = [r for r in table if (r["ncm_wt"], r["c_rate"], r["seed"]) == (60.0, 1.0, 1)][0]
    assert good["capacity_mAh_per_g"] == pytest.approx(150 - 20 + 2) and good["ended_by"] == "cut-off 3 V"
    assert good["unknowns"] == 1234 and good["newton"] == 40 and good["steps"] == 13
    assert good["size_um"] == 16.0 and good["separator_um"] == 5.0 and good["wall_s"] is not None
    assert (good["dead_ncm_fraction"], good["dead_lpscl_fraction"], good["interface_area_um2"]) == (0.01, 0.002, 101.0)

    summary = (root / SUMMARY_CSV).read_text().splitlines()
    assert len(summary) == 1 + 4
    s = {(r["ncm_wt"], r["c_rate"]): r for r in summarise(table)}
    assert s[(80.0, 1.0)]["n_cases"] == 2 and s[(80.0, 1.0)]["n_complete"] == 1
    q = [150 - 10 - 20 + 2 * k for k in (1, 2)]  # 80 wt% at 0.5C... and its 1C partner
    assert s[(80.0, 0.5)]["capacity_mAh_per_g_mean"] == pytest.approx(np.mean([v + 10 for v in q]))
    assert s[(80.0, 0.5)]["capacity_mAh_per_g_std"] == pytest.approx(np.std([v + 10 for v in q], ddof=1))
    assert s[(80.0, 0.5)]["capacity_mAh_per_g_min"] == pytest.approx(q[0] + 10)
    for name in (BY_RATE_PNG, BY_COMPOSITION_PNG):
        assert (root / name).stat().st_size > 20_000

    # again: complete cases are reused, the failed one runs again, the interrupted one restarts
    fake.calls.clear()
    fake.modes = {}
    rows = run_study(root, cases, ST, command=fake, structure=no_structure, plots=False)
    out = capsys.readouterr().out
    assert out.count("[reused]") == 6
    assert sorted((c.ncm_wt, c.c_rate, c.seed, r) for c, r, _ in fake.calls) == [(60.0, 0.5, 2, True),
                                                                                  (80.0, 1.0, 2, False)]
    assert all(r["complete"] for r in rows) and len(read_study_csv(root / STUDY_CSV)) == 8

    # a finished case made with other settings is refused, not mixed in
    with pytest.raises(InputError, match="separator"):
        run_study(root, cases, StudySettings(mesher="voxel", size_x_um=16.0, size_y_um=16.0, separator_um=30.0, ranks=1),
                  command=fake, structure=no_structure, plots=False)


def test_cases_with_fields_keep_their_numbers_and_pictures(tmp_path, fake, capsys):
    """A case that ends complete with fields runs the product commands (field_metrics.json and the
    pictures, which outlive the XDMF files) in its folder, after the case, output in its run.log;
    cases without fields, failed or interrupted ones do not; a failing product is reported."""
    root = tmp_path / "study"
    cases = case_list([60, 80], [1], [1, 2])
    fake.write_fields = True
    fake.modes = {(80.0, 1.0, 1): "interrupt"}
    ran = []

    def products(rd):
        ran.append(Path(rd))
        return [[sys.executable, "-c", "import sys, pathlib; print('made the products of', sys.argv[1]); "
                 "pathlib.Path(sys.argv[2], 'field_metrics.json').write_text('[]')", "x", str(rd)],
                [sys.executable, "-c", "import sys; sys.exit(3)", "y", "z"]]

    run_study(root, cases, ST, command=fake, structure=no_structure, plots=False, products=products)
    out = capsys.readouterr().out
    assert ran == [root / "ncm60_seed1" / "c1C"]  # seed 2 has no fields, 80 wt% seed 1 was interrupted
    log = (root / "ncm60_seed1" / "c1C" / "run.log").read_text()
    assert "made the products of x" in log and log.index("made the products") > log.index("$ ")
    assert out.count("failed (exit 3;") == 1 and "sys.exit(3) y z failed" in out
    # the interrupted one continues and then makes its products; a reused case whose products a stop
    # prevented (no field_metrics.json) makes them now, one that has them does not
    ran.clear()
    fake.modes = {}
    (root / "ncm60_seed1" / "c1C" / "field_metrics.json").unlink()
    run_study(root, cases, ST, command=fake, structure=no_structure, plots=False, products=products)
    assert ran == [root / "ncm60_seed1" / "c1C", root / "ncm80_seed1" / "c1C"]
    ran.clear()
    run_study(root, cases, ST, command=fake, structure=no_structure, plots=False, products=products)
    assert ran == []


def test_summary_statistics():
    rows = [{"ncm_wt": 70.0, "c_rate": 1.0, "seed": s, "size_um": 50.0, "separator_um": 30.0, "complete": c,
             "capacity_mAh_per_g": q, "capacity_mAh_per_cm2": None if q is None else q / 100} for s, q, c in
            ((1, 100.0, True), (2, 110.0, True), (3, 120.0, True), (4, None, False))]
    (s,) = summarise(rows)
    assert s["n_cases"] == 4 and s["n_complete"] == 3
    assert s["capacity_mAh_per_g_mean"] == pytest.approx(110.0)
    assert s["capacity_mAh_per_g_std"] == pytest.approx(10.0)
    assert (s["capacity_mAh_per_g_min"], s["capacity_mAh_per_g_max"]) == (100.0, 120.0)
    assert s["capacity_mAh_per_cm2_mean"] == pytest.approx(1.1)
    table = summary_table([s]).splitlines()
    assert table[0] == "| NCM wt% | 1C (mAh/g NCM) |"
    assert table[2] == "| 70 | 110.0 ± 10.0 (100.0-120.0), n = 3/4 |"
    assert table[-1] == "| 70 | 1.100 ± 0.100 (1.000-1.200), n = 3/4 |"


def test_seed_band_and_plots(tmp_path):
    def curve(q_end):
        q = np.linspace(0, q_end, 20)
        return {"time_s": q, "voltage_V": 4.2 - (q / q_end) ** 2, "capacity_mAh_per_g": q,
                "capacity_mAh_per_cm2": q / 100}

    b = seed_band([curve(100.0), curve(120.0), curve(110.0)], "capacity_mAh_per_g", n=121)
    g = b["grid"]
    assert g[0] == 0 and g[-1] == pytest.approx(120.0) and b["n_curves"] == 3
    inside = g <= 100.0
    assert np.all(np.isfinite(b["vmean"][inside])) and np.all(np.isnan(b["vmean"][g > 100.0 + 1e-9]))
    assert np.all(b["vmin"][inside] <= b["vmean"][inside] + 1e-12)
    assert np.all(b["vmean"][inside] <= b["vmax"][inside] + 1e-12)
    assert np.all(np.isfinite(b["vmax"])) and b["n_at"][-1] == 1
    assert b["vmin"][60] == pytest.approx(4.2 - (60 / 100) ** 2, abs=2e-3)  # the shortest curve is lowest
    assert seed_band([], "capacity_mAh_per_g") is None

    # plots from case folders: only complete cases are drawn
    cases = []
    for w in (60.0, 70.0):
        for s, q in ((1, 130.0 - w / 10), (2, 125.0 - w / 10)):
            rd = tmp_path / f"ncm{w:g}_seed{s}" / "c1C"
            rd.mkdir(parents=True)
            c = curve(q)
            lines = ["time_s,step,voltage_V,current_A,capacity_mAh_per_g,capacity_mAh_per_cm2"] + [
                f"{t},0,{v},1e-9,{a},{b_}" for t, v, a, b_ in
                zip(c["time_s"], c["voltage_V"], c["capacity_mAh_per_g"], c["capacity_mAh_per_cm2"])]
            (rd / "discharge.csv").write_text("\n".join(lines) + "\n")
            cases.append({"ncm_wt": w, "c_rate": 1.0, "seed": s, "complete": True, "run_dir": rd})
    cases.append({"ncm_wt": 80.0, "c_rate": 1.0, "seed": 1, "complete": False, "run_dir": tmp_path / "none"})
    cases.append({"ncm_wt": 60.0, "c_rate": 1.0, "seed": 3, "complete": True, "run_dir": tmp_path / "none",
                  "ended_by": "no current path: no NCM cluster reaches the current collector; not run"})
    import fem_twin.post.discharge_plots as dp

    labels = []
    draw = dp._draw
    dp_draw = lambda ax, band, color, label, no_path=0: (labels.append((label, no_path)),  # noqa: E731
                                                        draw(ax, band, color, label, no_path))
    dp._draw = dp_draw
    try:
        paths = plot_study_curves(tmp_path, cases)
    finally:
        dp._draw = draw
    assert [p.name for p in paths] == [BY_RATE_PNG, BY_COMPOSITION_PNG]
    _not_blank(paths[0])
    # the no-path piece is counted in its legend entry, not drawn; the others have none
    assert ("NCM 60 wt%", 1) in labels and ("NCM 70 wt%", 0) in labels and ("1C", 1) in labels


def _not_blank(path: Path):
    import matplotlib.image as mpimg

    img = mpimg.imread(str(path))[..., :3]
    assert path.stat().st_size > 10_000
    assert float(img.std()) > 0.05
    non_white = np.mean(np.any(img < 0.9, axis=-1))
    assert non_white > 0.03, non_white
    assert len(np.unique((img.reshape(-1, 3) * 255).astype(np.uint8), axis=0)) > 50


def _parser():
    p = argparse.ArgumentParser(prog="fem-twin")
    sub = p.add_subparsers(dest="command")
    study = sub.add_parser("study")
    register_study_discharge(study.add_subparsers(dest="study_kind"))
    register(sub)
    return p


@pytest.mark.parametrize("extra,field", [
    (["--c-rates", "0"], "--c-rates"),
    (["--c-rates", "1,x"], "--c-rates"),
    (["--compositions", "95"], "--compositions"),
    (["--compositions", "60,"], None),  # a trailing comma is fine
    (["--seeds", "a-b"], "--seeds"),
    (["--size", "10"], "domain size"),
    (["--size", "0"], "--size"),
    (["--separator", "-1"], "--separator"),
    (["--cutoff", "4.5"], "--cutoff"),
    (["--ranks", "0"], "--ranks"),
    (["--max-dod", "0"], "--max-dod"),
    (["--lithiation-overshoot", "-0.01"], "--lithiation-overshoot"),
    (["--lithiation-overshoot", "0.5"], "--lithiation-overshoot"),
    (["--lithiation-overshoot", "nan"], "--lithiation-overshoot"),
])
def test_bad_input_one_line(extra, field, tmp_path, monkeypatch):
    from fem_twin.commands import study_discharge as sd

    monkeypatch.setattr(sd, "run_study", lambda root, cases, st, **k: [{"complete": True}] * len(cases))
    args = _parser().parse_args(["study", "discharge", "--size", "16", "-o", str(tmp_path / "s")] + extra)
    if field is None:
        assert args.func(args) == 0
        return
    with pytest.raises(InputError) as exc:
        args.func(args)
    assert field in str(exc.value) and "\n" not in str(exc.value)


def test_render_bad_input(tmp_path):
    with pytest.raises(InputError, match="--dod"):
        parse_dods("0.5,1.5")
    assert parse_dods("0.2, end,0.2") == [0.2, 1.0]
    for argv, field in ((["render", str(tmp_path), "--quantities", "nope"], "--quantities"),
                        (["render", str(tmp_path)], "render"),
                        (["render", str(tmp_path / "missing")], "render")):
        args = _parser().parse_args(argv)
        with pytest.raises(InputError, match=field):
            args.func(args)


def test_pictures_of_cases_whose_fields_are_gone_are_stacked(tmp_path):
    """A study whose fields are gone (they stay out of git) but whose cases kept their pictures:
    the comparison per C-rate is their pictures one row each, in composition order."""
    import matplotlib.image as mpimg

    from fem_twin.post.field_pictures import render_study

    colours = {60: (1.0, 0.0, 0.0), 70: (0.0, 1.0, 0.0), 80: (0.0, 0.0, 1.0)}
    for w, (r, g, b) in colours.items():
        rd = tmp_path / f"ncm{w}_seed1" / "c1C"
        rd.mkdir(parents=True)
        img = np.ones((20 + w // 10, 10 + w // 10, 3))
        img[:] = (r, g, b)
        mpimg.imsave(rd / "fields_dod1.00.png", img)
    (tmp_path / "ncm70_seed2" / "c1C").mkdir(parents=True)  # another seed: not in seed 1's picture
    mpimg.imsave(tmp_path / "ncm70_seed2" / "c1C" / "fields_dod1.00.png", np.zeros((5, 5, 3)))
    paths = render_study(tmp_path, [0.5, 1.0])
    assert paths == [tmp_path / "fields_c1C_seed1_dod1.00.png"]  # (no pictures at 0.5)
    a = mpimg.imread(paths[0])[:, :, :3]
    assert a.shape == (26 + 27 + 28, 18, 3)  # the heights summed, the widest width
    for y, w in ((0, 60), (26, 70), (53, 80)):  # top to bottom: 60, 70, 80 wt%
        assert np.allclose(a[y, 0], colours[w], atol=0.01)
    assert np.allclose(a[0, 17], 1.0, atol=0.01) and np.allclose(a[53, 17], colours[80], atol=0.01)  # white right
    with pytest.raises(InputError, match="render"):
        render_study(tmp_path / "ncm60_seed1", [1.0])


RENDER_SCRIPT = r"""
import sys, warnings
warnings.simplefilter("always")
from fem_twin.post.field_pictures import render_dirs, case_view
d = sys.argv[1]
with warnings.catch_warnings(record=True) as w:
    v = case_view(d, [0.5, 1.0], ["lithiation", "flux", "eta"])
    print("missing", v.missing)
    print("label", v.label)
    print("frames", *[f"{k}:{f.dod:.3f}" for k, f in v.frames.items()])
    paths = render_dirs([d, d + "_copy"], [0.5], out_dir=d + "_pictures", panel_px=(320, 300))
for p in paths:
    print("picture", p)
print("fallback" if any("matplotlib fallback" in str(x.message) for x in w) else "pyvista")
print("dolfinx" in sys.modules)
"""


def test_render_real_xdmf(tmp_path):
    import shutil

    from test_discharge import column_run_with_fields

    out = tmp_path / "case"
    res = column_run_with_fields(out)
    assert res.complete, res.message
    shutil.copytree(out, tmp_path / "case_copy")
    # h5py (used by the reader) and DOLFINx's HDF5 must not share a process: render in a fresh one
    p = subprocess.run([sys.executable, "-c", RENDER_SCRIPT, str(out)], capture_output=True, text=True,
                       timeout=120, env={**__import__("os").environ, "PYVISTA_OFF_SCREEN": "true"})
    assert p.returncode == 0, p.stderr[-3000:]
    lines = p.stdout.splitlines()
    assert "missing []" in lines, p.stdout
    # no design.json next to the output folder: the folder's name labels the panels (with the protocol)
    assert [ln for ln in lines if ln.startswith("label ")][0].startswith("label case, 2C"), p.stdout
    assert lines[-2] == "pyvista" and lines[-1] == "False", p.stdout  # rendered by VTK, DOLFINx-free
    frames = dict(f.split(":") for f in [ln for ln in lines if ln.startswith("frames")][0].split()[1:])
    assert abs(float(frames["0.5"]) - 0.5) < 0.15 and float(frames["1.0"]) == 1.0, p.stdout  # nearest frames
    pics = [Path(ln.split(" ", 1)[1]) for ln in lines if ln.startswith("picture ")]
    names = sorted(x.name for x in pics)
    assert names == ["fields_compare_dod0.50.png", "fields_dod0.50.png", "fields_dod0.50.png"]
    for pic in pics:
        _not_blank(pic)


def test_a_run_with_another_separator_mesh_is_not_reused():
    from fem_twin.commands.study_discharge import settings_mismatch
    from fem_twin.protocol import Protocol

    st, case = StudySettings(mesher="voxel", size_x_um=16.0, size_y_um=16.0, separator_um=5.0), Case(70.0, 1.0, 1)
    summary = {"mesh": {"voxels": [32, 32, 78], "voxel_um": 0.5, "separator_um": 5.0, "separator_growth": 1.5},
               "protocol": Protocol.parse(st.protocol_text(1.0)).describe(), "parameters": {},
               "transport": {"transport": "fv-matched"}}
    assert settings_mismatch(summary, case, st, {}) is None
    # a run with the plain P1 transport (or from before the option: no record) is not this study's
    assert "transport p1" in settings_mismatch({**summary, "transport": {"transport": "p1"}}, case, st, {})
    assert "transport p1" in settings_mismatch({k: v for k, v in summary.items() if k != "transport"}, case, st, {})
    del summary["mesh"]["separator_growth"]  # a run from before the graded separator: voxel layers
    assert "separator growth 1.0" in settings_mismatch(summary, case, st, {})
    assert settings_mismatch(summary, case, StudySettings(mesher="voxel", size_x_um=16.0, size_y_um=16.0, separator_um=5.0,
                                                          separator_growth=1.0), {}) is None


def test_the_study_lithiation_overshoot_reaches_each_case_and_keeps_other_runs_out(tmp_path):
    """``--lithiation-overshoot`` goes into every case's settings file (and only when set: the
    study's existing settings files stay as they were); a finished run with another accepted
    overshoot (or from before the option: 0) is not this study's."""
    from fem_twin.commands.study_discharge import settings_mismatch
    from fem_twin.protocol import Protocol

    case = Case(70.0, 1.0, 1)
    strict = StudySettings(size_x_um=16.0, size_y_um=16.0)
    loose = StudySettings(size_x_um=16.0, size_y_um=16.0, lithiation_overshoot=0.05)
    assert "lithiation_overshoot" not in json.loads(strict.discharge_settings(1.0, False).to_json())["stepping"]
    written = json.loads(loose.discharge_settings(1.0, False).to_json())["stepping"]
    assert written["lithiation_overshoot"] == 0.05
    assert loose.discharge_settings(1.0, False).stepping_options().lithiation_overshoot == 0.05
    assert strict.discharge_settings(1.0, False).replace(stepping__lithiation_overshoot=0.05) == \
        loose.discharge_settings(1.0, False)
    summary = {"mesh": {"voxels": [32, 32, 78], "voxel_um": 0.5, "separator_um": 30.0, "separator_growth": 1.5,
                        "mesher": strict.mesher},
               "protocol": Protocol.parse(strict.protocol_text(1.0)).describe(), "parameters": {},
               "transport": {"transport": strict.transport}}
    assert settings_mismatch(summary, case, strict, {}) is None  # a run from before the option: 0
    assert settings_mismatch(summary, case, loose, {}) == "lithiation overshoot 0 (study: 0.05)"
    bounds = {"overshoot_allowed": 0.05, "max_lithiation": 1.01}
    assert settings_mismatch({**summary, "lithiation_bounds": bounds}, case, loose, {}) is None
    assert settings_mismatch({**summary, "lithiation_bounds": bounds}, case, strict, {}) == \
        "lithiation overshoot 0.05 (study: 0)"


def test_a_structure_without_a_current_path_is_zero_not_a_failure(tmp_path, fake, capsys):
    """A piece whose NCM does not reach the collector is not run: 0 mAh/g, counted in the mean."""
    from fem_twin import phases
    from fem_twin.microstructure.image import VoxelImage

    def structure(case, root, st):
        lab = np.full((32, 32, 8), phases.LPSCL, np.uint8)
        top = 8 if case.seed == 1 else 6  # seed 2: the NCM block ends 2 voxels short of the collector
        lab[8:20, 8:20, 2:top] = phases.NCM
        VoxelImage(lab, 0.5).save(case.structure_dir(root))

    root = tmp_path / "study"
    cases = case_list([60], [1], [1, 2])
    rows = run_study(root, cases, ST, command=fake, structure=structure, plots=False)
    assert [c.seed for c, _, _ in fake.calls] == [1]  # seed 2 is not launched
    (dead,) = [r for r in rows if r["seed"] == 2]
    assert dead["complete"] and dead["capacity_mAh_per_g"] == 0.0 and "collector" in dead["ended_by"]
    table = read_study_csv(root / STUDY_CSV)
    (s,) = summarise(table)
    assert s["n_complete"] == 2 and s["n_no_current_path"] == 1
    assert s["capacity_mAh_per_g_mean"] == pytest.approx((150 - 20 + 2) / 2)
    out = capsys.readouterr().out
    assert "0.0 mAh/g" in out
    assert "| 60 | 66.0 ± 93.3 (0.0-132.0), n = 2, 1 no path |" in out  # the printed summary table


COMPOSITION_STRINGS = [  # (text, accepted values or None when refused) - the same for both studies
    ("60,70,80,90", [60.0, 70.0, 80.0, 90.0]), ("50,90", [50.0, 90.0]), ("60,", [60.0]),
    ("72.5, 60,72.5", [72.5, 60.0]), ("95", None), ("49.9", None), ("0", None), ("60,,70", None),
    (",60", None), ("", None), ("60,x", None), ("nan", None), ("inf", None), ("-70", None),
]


@pytest.mark.parametrize("text,want", COMPOSITION_STRINGS)
def test_both_studies_accept_and_refuse_the_same_compositions(text, want, tmp_path, capsys):
    """One --compositions parser and range (fem_twin.study.cases.NCM_WT_RANGE) for both studies:
    the same strings are accepted (same values) or refused with one line naming --compositions."""
    from fem_twin.cli import main
    from fem_twin.commands import study as conductivity_study
    from fem_twin.commands import study_discharge
    from fem_twin.study.cases import parse_compositions

    assert conductivity_study.parse_compositions is study_discharge.parse_compositions is parse_compositions
    if want is not None:
        assert parse_compositions(text) == want
        return
    with pytest.raises(InputError, match="^--compositions: "):
        parse_compositions(text)
    for kind in ("conductivity", "discharge"):
        out = tmp_path / kind
        assert main(["study", kind, "--compositions", text, "--seeds", "1", "--size", "16", "-o", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "--compositions" in err, (kind, err)
        assert not out.exists()


def test_an_attempt_that_died_with_its_machine_counts_its_checkpointed_time(tmp_path):
    """prepare_attempt's wall seconds of earlier attempts: the case record's when there is one; for a
    case killed with its machine (no record, a checkpoint) the checkpoint's time loop, a lower bound;
    nothing for a fresh start. An earlier discharge.json is moved aside either way."""
    import json

    import numpy as np

    from fem_twin.study.runner import CASE_RECORD, prepare_attempt

    meta = np.frombuffer(json.dumps({"format": 1, "time_loop_s": 1234.5}).encode(), dtype=np.uint8)
    np.savez(tmp_path / "checkpoint.npz", meta=meta)
    (tmp_path / "discharge.json").write_text('{"complete": false, "running": true}')
    assert prepare_attempt(tmp_path, "interrupted") == (True, 1234.5)
    assert (tmp_path / "discharge.previous.json").exists() and not (tmp_path / "discharge.json").exists()
    (tmp_path / CASE_RECORD).write_text(json.dumps({"returncode": 1, "wall_s": 2000.0}))
    assert prepare_attempt(tmp_path, "interrupted") == (True, 2000.0)
    # a record older than the checkpoint (a later attempt died with its machine): the larger
    (tmp_path / CASE_RECORD).write_text(json.dumps({"returncode": 1, "wall_s": 1000.0}))
    assert prepare_attempt(tmp_path, "interrupted") == (True, 1234.5)
    assert prepare_attempt(tmp_path, "failed") == (False, 0.0)
    (tmp_path / CASE_RECORD).unlink()
    good = (tmp_path / "checkpoint.npz").read_bytes()
    bad = [b"not a zip", good[: len(good) // 2]]  # (a truncated zip)
    np.savez(tmp_path / "other.npz", fields=np.zeros(3))  # (no meta)
    bad.append((tmp_path / "other.npz").read_bytes())
    np.savez(tmp_path / "other.npz", meta=np.frombuffer(b"[1, 2]", dtype=np.uint8))  # (meta not a dict)
    bad.append((tmp_path / "other.npz").read_bytes())
    for content in bad:
        (tmp_path / "checkpoint.npz").write_bytes(content)
        assert prepare_attempt(tmp_path, "interrupted") == (True, 0.0)


def test_study_tables_are_written_whole_and_leave_no_temporary_files(tmp_path):
    """write_csv goes through a temporary file of its own and a rename (two studies on one folder
    write discharge_study.csv): the table is complete, nothing else is left, an error leaves the old
    table and no temporary file."""
    from fem_twin.study.tables import write_csv

    path = tmp_path / "t.csv"
    write_csv(path, [{"a": 1.0, "b": None}, {"a": 2.5, "b": "x"}], ["a", "b"])
    assert path.read_text().splitlines() == ["a,b", "1,", "2.5,x"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]

    def broken(v):
        raise RuntimeError("formatter failed")

    with pytest.raises(RuntimeError):
        write_csv(path, [{"a": 3.0}], ["a"], fmt=broken)
    assert path.read_text().splitlines()[1] == "1,"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]
