"""fem_twin.fem.settings: one validated DischargeSettings (defaults, JSON, errors naming the field),
and the same curve from the API (as the demo calls it), ``fem-twin discharge --settings`` and a
``fem-twin study discharge`` case."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import pytest

from fem_twin.errors import InputError
from fem_twin.fem import settings as S
from fem_twin.fem.settings import DischargeSettings


def test_defaults_are_the_unified_ones():
    st = DischargeSettings()
    assert st.protocol_object().describe() == "discharge 1C to 3 V"
    assert (st.stepping.dt_initial_h, st.stepping.dt_max_h, st.stepping.max_dV, st.stepping.saturation_dt) == \
        (0.01, 0.05, 0.1, 2e-4)
    assert (st.separator.thickness_um, st.separator.growth) == (30.0, 1.5)
    # one hour at 2C is 1800 s: first step 18 s, largest 90 s; seconds override the fractions
    assert st.stepping.first_dt_s(1800.0) == pytest.approx(18.0) and st.stepping.max_dt_s(1800.0) == 90.0
    assert S.SteppingOptions(dt_initial_s=5.0).first_dt_s(1800.0) == 5.0
    assert st.stepping_options().output_every == st.outputs.output_every


def test_json_round_trip(tmp_path):
    st = DischargeSettings(protocol="discharge 0.5C to 2.9 V; rest 10 min", mesher="smooth",
                           separator=S.SeparatorSettings(5.0, 1.0),
                           stepping=S.SteppingOptions(dt_max_h=0.02, max_dV=0.05),
                           solver=S.SolverSettings("mumps", ("discharge_snes_max_it=40",)),
                           outputs=S.OutputSettings(fields=False, output_every=3, quiet=True),
                           checkpoints=S.CheckpointSettings(every=0))
    again = DischargeSettings.from_json(st.to_json())
    assert again == st and again.to_dict() == st.to_dict()
    assert DischargeSettings.load(st.save(tmp_path / "case.json")) == st
    # (the lithiation overshoot, added later, is written only when set: the settings of runs without
    # it are the JSON they were, so calibration records keyed on them still match)
    assert "lithiation_overshoot" not in st.to_dict()["stepping"]
    tol = DischargeSettings(stepping=S.SteppingOptions(lithiation_overshoot=0.05))
    assert tol.to_dict()["stepping"]["lithiation_overshoot"] == 0.05 and DischargeSettings.from_json(tol.to_json()) == tol
    # a partial file: the rest are the defaults
    assert DischargeSettings.from_json('{"separator": {"thickness_um": 5}}') == \
        DischargeSettings(separator=S.SeparatorSettings(thickness_um=5.0))
    # a relative params path is relative to the file
    (tmp_path / "p.toml").write_text("t_plus = 1.0\n")
    (tmp_path / "rel.json").write_text('{"params": "p.toml"}')
    loaded = DischargeSettings.load(tmp_path / "rel.json")
    assert loaded.params == str((tmp_path / "p.toml").resolve()) and loaded.parameters().t_plus == 1.0


@pytest.mark.parametrize("text, field, expected", [
    ('{"stepping": {"dt_max_h": 3}}', "stepping.dt_max_h", "fraction of an hour in (0, 1]"),
    ('{"stepping": {"dt_max": 0.1}}', "stepping.dt_max", "a field of stepping"),
    ('{"stepping": {"output_every": 2}}', "stepping.output_every", "a field of stepping"),
    ('{"stepping": {"grow": true}}', "stepping.grow", "a factor >= 1"),
    ('{"stepping": {"lithiation_overshoot": -0.01}}', "stepping.lithiation_overshoot", "a lithiation in [0, 0.5)"),
    ('{"stepping": {"lithiation_overshoot": 0.5}}', "stepping.lithiation_overshoot", "a lithiation in [0, 0.5)"),
    ('{"separator": {"thickness_um": -1}}', "separator.thickness_um", "a thickness >= 0 um"),
    ('{"separator": {"growth": 0.5}}', "separator.growth", "a factor >= 1"),
    ('{"separator": 5}', "separator", "an object with thickness_um, growth"),
    ('{"solver": {"name": "lu"}}', "solver.name", "auto or mumps or fieldsplit"),
    ('{"solver": {"petsc": "a=1"}}', "solver.petsc", "a list of KEY=VALUE strings"),
    ('{"outputs": {"fields": 1}}', "outputs.fields", "true or false"),
    ('{"outputs": {"output_every": 0}}', "outputs.output_every", "an integer >= 1"),
    ('{"checkpoints": {"every": 1.5}}', "checkpoints.every", "an integer >= 0"),
    ('{"checkpoints": {"max_wall_s": 0}}', "checkpoints.max_wall_s", "a time > 0 s"),
    ('{"protocol": "discharge to"}', "protocol", "discharge"),
    ('{"mesher": "kuhn"}', "mesher", "voxel"),
    ('{"separatr": {}}', "separatr", "a settings field"),
    ('[1, 2]', "settings", "a JSON object"),
    ('{"protocol": ', "case.json", "JSON"),
])
def test_bad_fields_name_the_field(text, field, expected):
    with pytest.raises(InputError) as exc:
        DischargeSettings.from_json(text, where="case.json")
    e = exc.value
    assert e.field in (f"case.json: {field}", field) and expected in e.expected, (e.field, e.expected)
    assert "\n" not in str(e)


def _cli_args(*argv):
    from fem_twin.cli import build_parser

    return build_parser().parse_args(["discharge", "DIR", *argv])


def test_cli_options_override_the_settings_file(tmp_path):
    from fem_twin.commands.discharge import settings_from_args

    assert settings_from_args(_cli_args()) == DischargeSettings()
    f = DischargeSettings(separator=S.SeparatorSettings(5.0, 1.0), outputs=S.OutputSettings(output_every=3)).save(
        tmp_path / "case.json")
    st = settings_from_args(_cli_args("--settings", str(f), "--c-rate", "2", "--dt", "7", "--no-fields",
                                      "--max-wall-time", "3600"))
    assert st.checkpoints.options(restart=True).max_wall_s == 3600.0 and st.checkpoints.every == 10
    assert st.separator == S.SeparatorSettings(5.0, 1.0) and st.outputs.output_every == 3
    assert st.protocol_object().describe() == "discharge 2C to 3 V"
    assert st.stepping.dt_initial_s == 7.0 and st.outputs.fields is False
    assert st.stepping.lithiation_overshoot == 0.0
    assert settings_from_args(_cli_args("--lithiation-overshoot", "0.05")).stepping.lithiation_overshoot == 0.05
    for argv, field in ((["--dt", "0"], "--dt"), (["--separator-growth", "0.5"], "--separator-growth"),
                        (["--checkpoint-every", "-1"], "--checkpoint-every"),
                        (["--lithiation-overshoot", "-0.1"], "--lithiation-overshoot"),
                        (["--max-wall-time", "0"], "--max-wall-time"),
                        (["--settings", str(tmp_path / "missing.json")], "--settings")):
        with pytest.raises(InputError, match=field):
            settings_from_args(_cli_args(*argv))


def _voltages(run_dir: Path) -> np.ndarray:
    with open(Path(run_dir) / "discharge.csv", newline="") as fh:
        return np.array([[float(r["time_s"]), float(r["voltage_V"])] for r in csv.DictReader(fh)])


def test_demo_settings_give_one_curve_through_api_cli_and_study(tmp_path):
    """The demo's settings (the defaults with its protocol and separator) on a tiny electrode:
    :func:`discharge` (as the demo calls it), ``fem-twin discharge --settings`` and a study case
    (its own mpirun, ``python -m fem_twin.cli discharge``) write the same curve."""
    from test_discharge import column_electrode

    from fem_twin._dolfinx import MPI
    from fem_twin.cli import main
    from fem_twin.commands.study_discharge import Case, StudySettings, run_study
    from fem_twin.fem.discharge_run import discharge
    from fem_twin.microstructure.image import VoxelImage

    # what demos/discharge.py builds, at its defaults, for a 2C discharge and a 2 um separator
    demo = DischargeSettings(protocol=S.default_protocol_text(2.0, 3.0), mesher=S.DEFAULT_MESHER,
                             separator=S.SeparatorSettings(thickness_um=2.0, growth=S.SEPARATOR_GROWTH),
                             stepping=S.SteppingOptions(dt_max_h=S.DT_MAX_H), solver=S.SolverSettings("auto"),
                             outputs=S.OutputSettings(fields=False), checkpoints=S.CheckpointSettings())
    assert demo == DischargeSettings(protocol=demo.protocol, separator=S.SeparatorSettings(2.0),
                                     outputs=S.OutputSettings(fields=False))
    lab = column_electrode()
    api = discharge(lab, 1.0, tmp_path / "api", demo, comm=MPI.COMM_SELF)
    assert api.complete, api.message
    assert api.summary["steps"][0]["ended_by"] == "cut-off 3 V"
    VoxelImage(lab, 1.0).save(tmp_path / "structure")
    assert main(["discharge", str(tmp_path / "structure"), "--settings", str(demo.save(tmp_path / "demo.json")),
                 "-o", str(tmp_path / "cli"), "-q"]) == 0
    st = StudySettings(size_x_um=4.0, size_y_um=4.0, voxel_um=1.0, separator_um=2.0, ranks=1, fields="none")
    case = Case(70.0, 2.0, 1)
    study = st.discharge_settings(case.c_rate, fields=False)
    assert study.protocol_object() == demo.protocol_object()
    assert study.replace(protocol=demo.protocol, outputs__output_every=10) == demo

    def structure(c, root, s):
        VoxelImage(lab, 1.0).save(c.structure_dir(root))

    rows = run_study(tmp_path / "study", [case], st, structure=structure, plots=False, out=lambda *a, **k: None)
    rd = case.run_dir(tmp_path / "study")
    assert rows[0]["complete"], (rows, (rd / "run.log").read_text()[-2000:])
    assert json.loads((rd / "settings.json").read_text())["separator"] == {"thickness_um": 2.0, "growth": 1.5}
    ref = _voltages(tmp_path / "api")
    assert len(ref) > 10 and abs(ref[-1, 1] - 3.0) <= 2e-3
    for other in (tmp_path / "cli", rd):
        v = _voltages(other)
        assert v.shape == ref.shape, other
        assert np.max(np.abs(v - ref)) <= 1e-9, other
    cap = api.summary["capacity_mAh_per_g"]
    assert rows[0]["capacity_mAh_per_g"] == pytest.approx(cap, rel=1e-9)


def test_checkpoints_of_runs_with_explicit_time_steps_still_match():
    """The fractions of an hour (added in issue 17) are not hashed when seconds override them: a run
    with dt_initial_s and dt_max_s (benchmarks/discharge_convergence.py) fingerprints as before, so
    its earlier checkpoints are continued; with the fractions in use they are hashed."""
    from fem_twin.fem.checkpoint import input_fingerprint
    from fem_twin.parameters.cell import ParameterSet
    from fem_twin.protocol import Protocol

    def fp(stepping):
        return input_fingerprint(np.ones((4, 4, 4), np.uint8), 0.5, 5.0, ParameterSet(), Protocol.discharge(1.0, 3.0),
                                 stepping, 1.0)["stepping"]

    # (runs from before newton_max_its had SNES's 25 for every time step: with 25 they still match)
    old = S.SteppingOptions(dt_initial_s=36.0, dt_max_s=180.0, max_dV=0.1, output_every=5, saturation_dt=2e-3,
                            newton_max_its=25)
    assert fp(old) == "527c200f8b2f5b88"  # (the hash of these options before issue 17)
    assert fp(old) == fp(S.SteppingOptions(dt_initial_s=36.0, dt_max_s=180.0, max_dV=0.1, saturation_dt=2e-3,
                                           dt_initial_h=0.5, dt_max_h=0.5, newton_max_its=25))
    assert fp(old) != fp(S.SteppingOptions(dt_initial_s=36.0, dt_max_s=180.0, max_dV=0.1, saturation_dt=2e-3))
    assert fp(S.SteppingOptions()) != fp(S.SteppingOptions(dt_max_h=0.02))
    # (nor the accepted lithiation overshoot, nor the kinetics' smoothing at c_max: a run that ended at
    # the first node past c_max is continued from its checkpoint with them)
    fpp = lambda params: input_fingerprint(np.ones((4, 4, 4), np.uint8), 0.5, 5.0, params,  # noqa: E731
                                           Protocol.discharge(1.0, 3.0), old, 1.0)["parameters"]
    assert fpp(ParameterSet()) == fpp(ParameterSet(saturation_smoothing=1e-3)) != fpp(ParameterSet(k_ncm=2e-7))
    assert fp(old) == fp(S.SteppingOptions(dt_initial_s=36.0, dt_max_s=180.0, max_dV=0.1, saturation_dt=2e-3,
                                           newton_max_its=25, lithiation_overshoot=0.05))
