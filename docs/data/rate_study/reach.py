"""Where the unused NCM of the 80 wt% 0.1C cases sits: its path through NCM to a live contact.

Run from the repository root with the project's python (reads each case's last checkpoint and its
cached smooth mesh; both are ignored files, `bash docs/data/park.sh list` for what is parked):

    .venv/bin/python docs/data/rate_study/reach.py          # table of the seven 80 wt% 0.1C cases
    .venv/bin/python docs/data/rate_study/reach.py --json docs/data/rate_study/mirror/reach.json
    .venv/bin/python docs/data/rate_study/reach.py --cases "seed 2" --rate 1 \
        --json docs/data/rate_study/mirror/reach_fields_1C_seed2.json   # the same bands at 1C

The z-mirror test (mirror.py) showed that seed 2's arrangement in z costs it 8.1 mAh/g at 80 wt%
and 0.1C while its fractions, contact area and the contact's location do not explain it. A live
contact is an NCM voxel face on LPSCl that is connected to the separator (or NCM on the separator
itself), in NCM connected to the collector (:func:`fem_twin.analysis.connectivity.live_phases`).
Lithium enters the NCM only there and then diffuses through the NCM; the geodesic distance (um)
of an NCM voxel is the length of its shortest face-to-face path through live NCM to such a voxel
(:func:`fem_twin.analysis.reach.live_contact_distance_um`, non-periodic like the mesh). Mirroring changes which LPSCl is live,
so it changes these distances; the fractions and the total area it keeps.

Structure part (no discharge needed): NCM volume fraction beyond 1, 2, 4 um and unreachable.
Field part: the NCM lithiation of the last checkpoint (a few steps before the cut-off) on the mesh
cells, each cell put in the voxel of its centroid, summed per distance band: the capacity each band
delivered and what it left (mAh/g NCM, relative to a lithiation of 1). The checkpoint's capacity is
recomputed from the cells as a check of the mapping.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from fem_twin.analysis.reach import live_contact_distance_um, ncm_beyond_fraction
from fem_twin.microstructure.image import VoxelImage
from fem_twin.phases import NCM

HERE = Path(__file__).resolve().parent
CASES = {f"seed {s}": HERE / "study" / f"ncm80_seed{s}" for s in range(1, 6)}
CASES.update({f"seed {s} mirrored": HERE / "mirror" / f"ncm80_seed{s}_zflip" for s in (1, 2)})
#: distance bands (um): [0, 1), [1, 2), [2, 4), [4, 6), [6, 8), [8, inf), unreachable
BANDS_UM = (1.0, 2.0, 4.0, 6.0, 8.0)


def band_of(dist: np.ndarray) -> np.ndarray:
    """Band index 0..len(BANDS_UM) of finite distances, len(BANDS_UM) + 1 for unreachable (+inf)."""
    b = np.digitize(dist, BANDS_UM)
    return np.where(np.isinf(dist), len(BANDS_UM) + 1, b)


def band_names() -> list[str]:
    e = (0.0,) + BANDS_UM
    return [f"{e[i]:g}-{e[i + 1]:g} um" for i in range(len(BANDS_UM))] + [f">= {BANDS_UM[-1]:g} um", "unreachable"]


def _mesh_file(case: Path) -> Path:
    files = sorted((case / ".fem_twin_cache").glob("smooth-mesh-*.npz"))
    if len(files) != 1:
        raise FileNotFoundError(f"{case / '.fem_twin_cache'}: expected one smooth-mesh-*.npz, found {len(files)}")
    return files[0]


def cell_lithiation(case: Path, nz: int, h: float, rate: str = "0.1"):
    """``(voxel index (i, j, k) per NCM cell, volume um^3, lithiation, checkpoint meta)`` from the case's
    c<rate>C/checkpoint.npz on its cached mesh; cells with a vertex without a value are left out."""
    ck = np.load(case / f"c{rate}C" / "checkpoint.npz")
    meta = json.loads(bytes(ck["meta"]).decode())
    m = np.load(_mesh_file(case))
    x, cells, lab = m["x"], m["cells"], m["cell_label"]
    theta = np.full(x.shape[0], np.nan)
    theta[ck["ids_theta_s"]] = ck["values_theta_s"][:, 0]
    t = cells[lab == NCM]
    th = theta[t].mean(axis=1)
    p = x[t]
    vol = np.abs(np.einsum("ij,ij->i", p[:, 1] - p[:, 0], np.cross(p[:, 2] - p[:, 0], p[:, 3] - p[:, 0]))) / 6.0
    sep = x[:, 2].max() - nz * h
    cen = p.mean(axis=1) - np.array([0.0, 0.0, sep])
    ijk = np.floor(cen / h).astype(np.int64)
    ok = np.isfinite(th)
    return ijk[ok], vol[ok], th[ok], meta


def case_table(case: Path, rate: str = "0.1") -> dict:
    img = VoxelImage.load(case)
    lab, h = img.labels, float(img.voxel_size_um)
    dist = live_contact_distance_um(lab, h)
    nb = len(BANDS_UM) + 2
    ncm_vox = int((lab == NCM).sum())
    vox_band = band_of(dist[~np.isnan(dist)])
    frac = np.bincount(vox_band, minlength=nb) / ncm_vox
    ijk, vol, th, meta = cell_lithiation(case, lab.shape[2], h, rate)
    ijk = np.clip(ijk, 0, np.array(lab.shape) - 1)
    d_cell = dist[ijk[:, 0], ijk[:, 1], ijk[:, 2]]
    # a centroid in a voxel that is not live NCM (the smoothed surface moves it) has no band: -1,
    # reported as "outside live NCM"
    cb = np.where(np.isnan(d_cell), -1, band_of(np.nan_to_num(d_cell, nan=0.0, posinf=np.inf)))
    row = meta["rows"][-1]
    x0 = meta["rows"][0]["mean_lithiation"]
    q_per_x = row["capacity_mAh_per_g"] / (row["mean_lithiation"] - x0)  # mAh/g NCM per unit lithiation
    v_all = vol.sum()
    q_cells = q_per_x * ((vol * th).sum() / v_all - x0)
    out = {"case": str(case.relative_to(HERE)), "c_rate": float(rate), "t_s": meta["loop"]["t_s"],
           "capacity_checkpoint_mAh_per_g": row["capacity_mAh_per_g"], "capacity_from_cells_mAh_per_g": q_cells,
           "mAh_per_g_per_unit_lithiation": q_per_x, "ncm_fraction_by_band": dict(zip(band_names(), frac.tolist())),
           "cells_outside_live_ncm_volume_fraction": float(vol[cb < 0].sum() / v_all), "bands": {}}
    for b, name in list(enumerate(band_names())) + [(-1, "outside live NCM")]:
        s = cb == b
        out["bands"][name] = {"volume_fraction": float(vol[s].sum() / v_all),
                              "mean_lithiation": float((vol[s] * th[s]).sum() / vol[s].sum()) if s.any() else None,
                              "delivered_mAh_per_g": float(q_per_x * (vol[s] * (th[s] - x0)).sum() / v_all),
                              "left_mAh_per_g": float(q_per_x * (vol[s] * (1.0 - th[s])).sum() / v_all)}
    return out


#: Li diffusion coefficient in NCM (m^2/s), fem_twin.parameters.cell [Park2020, Table S2]
def _d_ncm() -> float:
    from fem_twin.parameters.cell import ParameterSet

    return float(ParameterSet().d_ncm_m2_s)


def structure_summary(case: Path, rate: str = "0.1", lengths_um=(2.0, 4.0, 6.0, 8.0, 10.0, 12.0)) -> dict:
    """Structure numbers of ``case`` beside its final capacity at ``rate`` C: the NCM volume fraction
    farther than each length from a live contact, and farther than its diffusion length
    ``L_D = sqrt(D_s t_end)`` (t_end: the case's discharge time)."""
    img = VoxelImage.load(case)
    lab, h = img.labels, float(img.voxel_size_um)
    dist = live_contact_distance_um(lab, h)
    rep = json.loads((case / f"c{rate}C" / "discharge.json").read_text())
    t_end = float(np.loadtxt(case / f"c{rate}C" / "discharge.csv", delimiter=",", skiprows=1, usecols=0, ndmin=1)[-1])
    l_d = 1e6 * np.sqrt(_d_ncm() * t_end)
    d = dist[~np.isnan(dist)]
    beyond = ncm_beyond_fraction(lab, dist, (l_d,) + tuple(lengths_um))
    with_dead = ncm_beyond_fraction(lab, live_contact_distance_um(lab, h, dead_lpscl=True), (8.0,))[8.0]
    out = {"case": str(case.relative_to(HERE)), "capacity_mAh_per_g": rep["capacity_mAh_per_g"], "t_end_s": t_end,
           "diffusion_length_um": float(l_d), "beyond_diffusion_length": beyond[float(l_d)],
           "mean_distance_um": float(d[np.isfinite(d)].mean()),
           "beyond_um": {f"{L:g}": beyond[float(L)] for L in lengths_um},
           "beyond_8um_if_every_lpscl_were_live": with_dead}
    return out


def summary_markdown(rows: dict) -> str:
    from scipy.stats import spearmanr

    lengths = list(next(iter(rows.values()))["beyond_um"])
    lines = ["| case | mAh/g NCM | t_end s | L_D um | % NCM beyond L_D | mean distance um | "
             + " | ".join(f"% beyond {L} um" for L in lengths) + " | % beyond 8 um, every LPSCl live |",
             "|---" * (7 + len(lengths)) + "|"]
    for label, r in rows.items():
        lines.append(f"| {label} | {r['capacity_mAh_per_g']:.2f} | {r['t_end_s']:,.0f} | {r['diffusion_length_um']:.2f} | "
                     f"{100 * r['beyond_diffusion_length']:.2f} | {r['mean_distance_um']:.3f} | "
                     + " | ".join(f"{100 * r['beyond_um'][L]:.2f}" for L in lengths)
                     + f" | {100 * r['beyond_8um_if_every_lpscl_were_live']:.2f} |")
    cap = [r["capacity_mAh_per_g"] for r in rows.values()]
    cols = {"beyond L_D": [r["beyond_diffusion_length"] for r in rows.values()],
            "mean distance": [r["mean_distance_um"] for r in rows.values()]}
    cols.update({f"beyond {L} um": [r["beyond_um"][L] for r in rows.values()] for L in lengths})
    lines.append("")
    lines.append("Spearman rank correlation with the capacity over these cases: "
                 + "; ".join(f"{k} {spearmanr(v, cap)[0]:+.2f}" for k, v in cols.items()))
    return "\n".join(lines)


SIZE_STUDY = HERE.parent / "size_study"


def stranded_score(labels, voxel_size_um: float, t_end_s: float) -> dict:
    """The share of all NCM that cannot fill in ``t_end_s``: dead NCM (cut off from the collector) +
    live NCM that reaches no live contact + NCM beyond L_D = sqrt(D_s t_end) (0-1 each)."""
    lab = np.asarray(labels)
    total = int((lab == NCM).sum())
    d = live_contact_distance_um(lab, voxel_size_um)
    l_d = 1e6 * np.sqrt(_d_ncm() * t_end_s)
    dead = (total - int((~np.isnan(d)).sum())) / total
    unreachable = float(np.isinf(d).sum()) / total
    beyond = float((np.isfinite(d) & (np.nan_to_num(d, nan=0.0, posinf=0.0) >= l_d)).sum()) / total
    return {"L_D_um": float(l_d), "dead": dead, "unreachable": unreachable, "beyond_L_D": beyond,
            "score": dead + unreachable + beyond}


def size_study_table(wt: int = 80, sizes=(16, 24, 32, 50), seeds=(1, 2, 3), rates=("0.1", "1")) -> dict:
    """Per size, rate and seed of the size study: final capacity (mAh/g NCM) and :func:`stranded_score`."""
    out = {}
    for size in sizes:
        for s in seeds:
            sdir = SIZE_STUDY / f"size{size}" / f"size_um={size}_ncm_wt={wt}_seed={s}"
            img = VoxelImage.load(sdir)
            for rate in rates:
                run = sdir / f"c{rate}C"
                cap = json.loads((run / "discharge.json").read_text())["capacity_mAh_per_g"]
                t_end = float(np.loadtxt(run / "discharge.csv", delimiter=",", skiprows=1, usecols=0, ndmin=1)[-1])
                out[f"{size} um, {rate}C, seed {s}"] = {"size_um": size, "rate": rate, "seed": s,
                                                         "capacity_mAh_per_g": cap, "t_end_s": t_end,
                                                         **stranded_score(img.labels, float(img.voxel_size_um), t_end)}
                out[f"{size} um, {rate}C, seed {s}"]["_labels"] = (sdir,)
    # the same with one L_D per group (the mean t_end of its seeds): a case's own t_end is its capacity
    # over the current, so its own L_D leans towards the order it is to predict
    for size in sizes:
        for rate in rates:
            keys = [f"{size} um, {rate}C, seed {s}" for s in seeds]
            t_mean = float(np.mean([out[k]["t_end_s"] for k in keys]))
            for k in keys:
                img = VoxelImage.load(out[k].pop("_labels")[0])
                common = stranded_score(img.labels, float(img.voxel_size_um), t_mean)
                out[k]["group_t_end_s"] = t_mean
                out[k]["group"] = common
    return out


def size_study_markdown(rows: dict) -> str:
    lines = ["| size, rate | seed | mAh/g NCM | own L_D um | dead NCM % | unreachable % | beyond own L_D % | score % | "
             "order holds | group L_D um | score at group L_D % | order holds |", "|---" * 12 + "|"]
    groups = {}
    for r in rows.values():
        groups.setdefault((r["size_um"], r["rate"]), []).append(r)
    held = held_group = 0

    def order(rs, key):
        return [r["seed"] for r in sorted(rs, key=key)]

    for (size, rate), rs in groups.items():
        by_cap = order(rs, lambda r: -r["capacity_mAh_per_g"])
        ok = order(rs, lambda r: r["score"]) == by_cap
        ok_g = order(rs, lambda r: r["group"]["score"]) == by_cap
        held += ok
        held_group += ok_g
        for r in rs:
            g = r["group"]
            lines.append(f"| {size} um, {rate}C | {r['seed']} | {r['capacity_mAh_per_g']:.2f} | {r['L_D_um']:.2f} | "
                         f"{100 * r['dead']:.2f} | {100 * r['unreachable']:.2f} | {100 * r['beyond_L_D']:.2f} | "
                         f"{100 * r['score']:.2f} | {'yes' if ok else 'no'} | {g['L_D_um']:.2f} | {100 * g['score']:.2f} | "
                         f"{'yes' if ok_g else 'no'} |")
    lines.append("")
    lines.append(f"full order of the three seeds held in {held} of {len(groups)} groups with each case's own L_D, "
                 f"in {held_group} of {len(groups)} with one L_D per group")
    return "\n".join(lines)


def markdown(results: dict) -> str:
    names = band_names() + ["outside live NCM"]
    lines = ["| case | Q checkpoint | Q from cells | " + " | ".join(f"{n}: vol %, x, left" for n in names) + " |",
             "|---" * (3 + len(names)) + "|"]
    for label, r in results.items():
        cells = []
        for n in names:
            b = r["bands"][n]
            x = "-" if b["mean_lithiation"] is None else f"{b['mean_lithiation']:.3f}"
            cells.append(f"{100 * b['volume_fraction']:.1f}, {x}, {b['left_mAh_per_g']:.1f}")
        lines.append(f"| {label} | {r['capacity_checkpoint_mAh_per_g']:.2f} | {r['capacity_from_cells_mAh_per_g']:.2f} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="write every number here")
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated case labels")
    ap.add_argument("--rate", default="0.1", help="C-rate of the checkpoints the field bands read (c<RATE>C/)")
    ap.add_argument("--summary", action="store_true",
                    help="structure numbers beside the final capacities (no checkpoint needed)")
    ap.add_argument("--size-study", action="store_true",
                    help="the fourth prediction: stranded NCM against capacity in the size study's 80 wt% cases")
    args = ap.parse_args(argv)
    if args.size_study:
        rows = size_study_table()
        print(size_study_markdown(rows))
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
        return 0
    if args.summary:
        rows = {label: structure_summary(CASES[label]) for label in args.cases.split(",")}
        print(summary_markdown(rows))
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
        return 0
    results = {}
    for label in args.cases.split(","):
        results[label] = case_table(CASES[label], args.rate)
        print(f"{label}: done", flush=True)
    print(markdown(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
