"""The representative size of a domain-size study (issue 19, part 1): fem_twin/study/representative.py
and ``fem-twin study size``, on sweep.csv files written by the sweep's own writer."""

from __future__ import annotations

import json

import pytest

from fem_twin.cli import main
from fem_twin.errors import FileFormatError, InputError
from fem_twin.study import representative as R
from fem_twin.study.sweep_tables import write_sweep_csv


def write_sizes(root, capacities, keys=("size_um", "ncm_wt")):
    """One sweep folder per size: ``capacities[size][(ncm_wt, c_rate)]`` = per-seed mAh/g (None: an
    incomplete case). Returns the folders."""
    dirs = []
    for size, by_group in capacities.items():
        rows = []
        for (wt, rate), values in by_group.items():
            for seed, q in enumerate(values, start=1):
                rows.append({"size_um": size, "ncm_wt": wt, "seed": seed, "c_rate": rate,
                             "capacity_mAh_per_g": q, "complete": q is not None,
                             "status": "ok" if q is not None else "failed"})
        d = root / f"size{size:g}"
        d.mkdir()
        write_sweep_csv(d / "sweep.csv", rows, list(keys))
        dirs.append(d)
    return dirs


REF = {(70, 1.0): [150.0, 152.0, 148.0], (80, 1.0): [110.0, 114.0, 106.0]}


def shifted(factor, spread=1.0):
    """REF scaled by ``factor`` with the deviations from each mean times ``spread``."""
    out = {}
    for g, vals in REF.items():
        m = sum(vals) / len(vals)
        out[g] = [factor * (m + spread * (v - m)) for v in vals]
    return out


def test_the_smallest_size_within_the_mean_and_spread_is_chosen(tmp_path):
    dirs = write_sizes(tmp_path, {16: shifted(0.90), 24: shifted(1.02, 1.5), 50: REF})
    rows, keys = R.read_size_rows(dirs)
    assert keys == ["ncm_wt"] and len(rows) == 18
    groups = R.size_groups(rows, keys)
    g = next(x for x in groups if x.size_um == 50 and dict(x.group) == {"ncm_wt": 70, "c_rate": 1.0})
    assert (g.mean, g.std, g.n_complete, g.seeds) == (150.0, 2.0, 3, (1, 2, 3))
    size, verdicts = R.representative_size(groups)
    assert size == 24
    v16 = [v for v in verdicts if v.size_um == 16]
    assert all(not v.mean_ok and v.mean_deviation == pytest.approx(-0.10) for v in v16)
    v24 = [v for v in verdicts if v.size_um == 24]
    assert all(v.ok and v.mean_deviation == pytest.approx(0.02) for v in v24)


def test_a_wide_spread_or_a_mean_just_outside_fails(tmp_path):
    # 24 um: mean within 3 % but the seeds 3x as spread as the reference's (2 x std + 1 % of the mean allowed)
    dirs = write_sizes(tmp_path, {16: shifted(1.031), 24: shifted(1.0, 3.0), 50: REF})
    size, verdicts = R.representative_size(R.size_groups(*R.read_size_rows(dirs)))
    assert size == 50  # the reference: no smaller size passes
    by = {(v.size_um, dict(v.group)["ncm_wt"]): v for v in verdicts}
    assert not by[(16, 70)].mean_ok and by[(16, 70)].spread_ok
    # 70 wt%: std 6 > 2 x 2 + 1.5 = 5.5; 80 wt%: std 12 > 2 x 4 + 1.1
    assert by[(24, 70)].mean_ok and by[(24, 70)].spread_ok is False and not by[(24, 70)].ok
    # a looser mean passes 16 um, but 24 um between it and the reference still fails: not representative
    groups = R.size_groups(*R.read_size_rows(dirs))
    size, verdicts = R.representative_size(groups, mean_tol=0.04)
    assert size == 50 and all(v.ok for v in verdicts if v.size_um == 16)
    # with a looser spread too, both pass: the smallest is chosen
    assert R.representative_size(groups, mean_tol=0.04, spread_factor=3.0)[0] == 16
    # a size above the reference is never chosen
    assert R.representative_size(groups, reference_um=24, mean_tol=0.04, spread_factor=3.0)[0] == 16
    assert R.representative_size(groups, reference_um=24)[0] == 24


def test_one_seed_at_a_size_cannot_match_the_reference_spread(tmp_path):
    dirs = write_sizes(tmp_path, {16: {g: v[:1] for g, v in REF.items()}, 50: REF})
    size, verdicts = R.representative_size(R.size_groups(*R.read_size_rows(dirs)))
    assert size == 50 and all(v.spread_ok is False and v.mean_ok for v in verdicts)
    assert "one seed: spread unknown" in R.verdict_markdown(R.size_groups(*R.read_size_rows(dirs)), verdicts, 50)


def test_overlapping_folders_count_a_case_once_and_must_agree(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = write_sizes(tmp_path / "a", {16: shifted(1.0), 50: REF})
    b = write_sizes(tmp_path / "b", {16: shifted(1.0)})
    rows, keys = R.read_size_rows(a + b)
    assert len(rows) == 12
    (tmp_path / "c").mkdir()
    c = write_sizes(tmp_path / "c", {16: shifted(1.01)})
    with pytest.raises(InputError, match="the same case as"):
        R.read_size_rows(a + c)


def test_bad_values_name_the_file_and_line(tmp_path):
    d = write_sizes(tmp_path, {16: REF})[0]
    lines = (d / "sweep.csv").read_text().splitlines()
    head = lines[0].split(",")
    row = lines[2].split(",")
    row[head.index("capacity_mAh_per_g")] = "lots"
    (d / "sweep.csv").write_text("\n".join([lines[0], lines[1], ",".join(row)] + lines[3:]) + "\n")
    with pytest.raises(FileFormatError, match=r"sweep.csv: line 3: capacity_mAh_per_g must be a number"):
        R.read_size_rows([d])
    row[head.index("capacity_mAh_per_g")] = "1"
    row[head.index("size_um")] = ""
    (d / "sweep.csv").write_text("\n".join([lines[0], lines[1], ",".join(row)] + lines[3:]) + "\n")
    with pytest.raises(FileFormatError, match="line 3: size_um must be a number"):
        R.read_size_rows([d])


def test_incomplete_or_missing_groups_are_never_representative(tmp_path):
    small = shifted(1.0)
    small[(80, 1.0)] = [110.0, None, 106.0]
    dirs = write_sizes(tmp_path, {16: small, 24: {(70, 1.0): REF[(70, 1.0)]}, 50: REF})
    size, verdicts = R.representative_size(R.size_groups(*R.read_size_rows(dirs)))
    assert size == 50
    v = next(v for v in verdicts if v.size_um == 16 and dict(v.group)["ncm_wt"] == 80)
    assert not v.complete and not v.ok
    md = R.verdict_markdown(R.size_groups(*R.read_size_rows(dirs)), verdicts, 50)
    assert "| ncm_wt 80, c_rate 1 | 16 |" in md and "incomplete" in md and "reference" in md


def test_one_seed_at_the_reference_judges_the_mean_only(tmp_path):
    dirs = write_sizes(tmp_path, {16: shifted(1.01, 5.0), 50: {g: v[:1] for g, v in REF.items()}})
    size, verdicts = R.representative_size(R.size_groups(*R.read_size_rows(dirs)))
    assert all(v.spread_ok is None for v in verdicts)
    # the means: 70 wt% 151.5 against 150 (+1 %), 80 wt% 111.1 against 110 (+1 %)
    assert size == 16


def test_cli_writes_the_record_and_names_bad_input(tmp_path, capsys):
    dirs = write_sizes(tmp_path, {16: shifted(0.9), 24: shifted(0.99), 50: REF})
    assert main(["study", "size", *map(str, dirs), "-o", str(tmp_path / "out")]) == 0
    text = capsys.readouterr().out
    assert "representative size: 24 um" in text and "-10.0 %" in text
    rec = json.loads((tmp_path / "out" / "size_study.json").read_text())
    assert rec["representative_size_um"] == 24 and rec["reference_size_um"] == 50
    assert rec["rule"] == {"mean_tol": 0.03, "spread_factor": 2.0, "spread_floor": 0.01}
    assert len(rec["verdicts"]) == 4 and len(rec["groups"]) == 6
    # a folder without sweep.csv: exit 2 naming the file
    (tmp_path / "empty").mkdir()
    assert main(["study", "size", str(tmp_path / "empty")]) == 2
    assert "empty/sweep.csv" in capsys.readouterr().err
    with pytest.raises(FileFormatError, match="sweep.csv"):
        R.read_size_rows([tmp_path / "empty"])
    assert main(["study", "size", *map(str, dirs), "--reference", "32"]) == 2
    assert "--reference: expected one of the sizes present (16, 24, 50)" in capsys.readouterr().err
    assert main(["study", "size", str(dirs[0]), "--mean-tol", "-1"]) == 2


def test_folders_varying_other_keys_are_refused(tmp_path):
    (tmp_path / "a").mkdir()
    a = write_sizes(tmp_path / "a", {16: REF})
    b_root = tmp_path / "b"
    b_root.mkdir()
    write_sweep_csv(b_root / "sweep.csv", [{"size_um": 50, "seed": 1, "c_rate": 1.0, "capacity_mAh_per_g": 1.0,
                                           "complete": True}], ["size_um"])
    with pytest.raises(InputError, match="varied keys"):
        R.read_size_rows([a[0], b_root])
    no_size = tmp_path / "c"
    no_size.mkdir()
    write_sweep_csv(no_size / "sweep.csv", [{"ncm_wt": 70, "seed": 1, "c_rate": 1.0}], ["ncm_wt"])
    with pytest.raises(FileFormatError, match="size_um"):
        R.read_size_rows([no_size])


def test_a_group_without_a_reference_is_shown_not_judged(tmp_path):
    extra = {**shifted(1.0), (90, 1.0): [50.0, 52.0, 51.0]}
    dirs = write_sizes(tmp_path, {16: extra, 50: REF})
    groups = R.size_groups(*R.read_size_rows(dirs))
    size, verdicts = R.representative_size(groups)
    assert size == 16 and len(verdicts) == 2  # judged on the reference's two groups only
    assert "| ncm_wt 90, c_rate 1 | 16 | 51.0 ± 1.0 (50.0-52.0) | 3/3 |  | no reference group: not judged |" \
        in R.verdict_markdown(groups, verdicts, 50)


def test_the_cost_of_each_size_is_summed(tmp_path):
    rows = []
    for size, walls in ((16, [100.0, 200.0, None]), (24, [1000.0, 3000.0, 500.0])):
        for seed, w in enumerate(walls, start=1):
            rows.append({"size_um": size, "ncm_wt": 70, "seed": seed, "c_rate": 1.0, "capacity_mAh_per_g": 150.0,
                         "complete": w is not None, "status": "ok", "wall_s": w, "unknowns": 1000 * size + seed})
    (tmp_path / "s").mkdir()
    write_sweep_csv(tmp_path / "s" / "sweep.csv", rows, ["size_um", "ncm_wt"])
    got, _ = R.read_size_rows([tmp_path / "s"])
    costs = {c.size_um: c for c in R.size_costs(got)}
    assert (costs[16].n_cases, costs[16].n_complete, costs[16].wall_s, costs[16].wall_s_max) == (3, 2, 300.0, 200.0)
    assert costs[24].wall_s == 4500.0 and costs[24].unknowns_max == 24003
    table = R.cost_markdown(list(costs.values()))
    assert "| 24 | 3 (3) | 1.25 h | 50.0 min | 24,003 |" in table and "| all | 6 (5) | 1.33 h |" in table
