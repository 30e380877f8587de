"""The z-mirror test of the 80 wt% seed spread: the same structure turned upside down.

Run from the repository root with the project's python:

    .venv/bin/python docs/data/rate_study/mirror.py make 2     # writes mirror/ncm80_seed2_zflip/
    .venv/bin/mpirun -n 2 .venv/bin/python -m fem_twin.cli discharge docs/data/rate_study/mirror/ncm80_seed2_zflip \\
        --settings docs/data/rate_study/study/ncm80_seed2/c0.1C/settings.json \\
        -o docs/data/rate_study/mirror/ncm80_seed2_zflip/c0.1C \\
        --cache docs/data/rate_study/mirror/ncm80_seed2_zflip/.fem_twin_cache
    .venv/bin/python docs/data/rate_study/mirror.py table 2    # original beside mirrored

At 80 wt% and 0.1C the seeds whose NCM|LPSCl contact sits towards the collector end higher
(``seeds80.py``: separator-third area per NCM volume, Spearman -0.90 over five seeds), a rank
correlation over five structures, not a cause. Mirroring a structure in z (voxel layer k -> nz-1-k)
keeps every voxel, every phase fraction, the contact area and the in-plane geometry, and swaps its
separator third with its collector third; the discharge runs with the same settings. If where the
contact sits is what sets the capacity, the mirrored seed moves towards the other group's capacity;
if the capacity is set by what mirroring keeps, it stays. (Mirroring also changes which LPSCl touches
the separator and which NCM touches the collector, so the dead fractions change: the table shows them.)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from fem_twin.analysis.connectivity import live_phases
from fem_twin.analysis.profile import through_thickness_bands
from fem_twin.microstructure.image import VoxelImage
from fem_twin.phases import LPSCL, NCM

HERE = Path(__file__).resolve().parent
STUDY = HERE / "study"
MIRROR = HERE / "mirror"


def original_dir(seed: int) -> Path:
    """The study's folder of 80 wt% seed ``seed`` (structure.npz, c0.1C/)."""
    return STUDY / f"ncm80_seed{seed}"


def mirrored_dir(seed: int) -> Path:
    """The folder of its z-mirrored copy (structure.npz, c0.1C/)."""
    return MIRROR / f"ncm80_seed{seed}_zflip"


def make(seed: int) -> Path:
    """Write the z-mirrored copy of 80 wt% seed ``seed``'s structure; returns its structure.npz."""
    img = VoxelImage.load(original_dir(seed))
    flipped = VoxelImage(labels=np.ascontiguousarray(img.labels[:, :, ::-1]), voxel_size_um=img.voxel_size_um,
                         design_json=img.design_json, seed=img.seed,
                         source=f"{img.source}, mirrored in z (layer k -> nz-1-k)", version=img.version)
    return flipped.save(mirrored_dir(seed))


def structure_numbers(directory: Path) -> dict[str, float]:
    """Dead fractions and thirds numbers of the structure in ``directory``."""
    img = VoxelImage.load(directory)
    ncm_live, lpscl_live = live_phases(img.labels)  # not periodic, as the discharge's pruning
    ncm, lpscl = img.labels == NCM, img.labels == LPSCL
    bands = through_thickness_bands(img.labels, img.voxel_size_um, 3)
    area = [b["contact_area_per_ncm_volume_per_m"] / 1e6 for b in bands]
    return {
        "dead LPSCl, %": 100 * np.count_nonzero(lpscl & ~lpscl_live) / np.count_nonzero(lpscl),
        "dead NCM, %": 100 * np.count_nonzero(ncm & ~ncm_live) / np.count_nonzero(ncm),
        "separator-third area / NCM vol, 1/um": area[0],
        "collector-third area / NCM vol, 1/um": area[2],
        "collector / separator area": area[2] / area[0],
        "separator-third NCM distance to contact, um": bands[0]["ncm_distance_to_contact_um"],
        "collector-third NCM distance to contact, um": bands[2]["ncm_distance_to_contact_um"],
    }


def case_numbers(case: Path) -> dict[str, float | str]:
    """Capacity, 3.3 V crossing (linear between rows), end and active area of a discharge case, or
    '(not run)' / '(incomplete)'."""
    f = case / "discharge.json"
    if not f.exists():
        return {"capacity, mAh/g": "(not run)"}
    d = json.loads(f.read_text())
    if not d.get("complete"):
        return {"capacity, mAh/g": "(incomplete)"}
    rows = np.genfromtxt(case / "discharge.csv", delimiter=",", names=True)
    q, v = rows["capacity_mAh_per_g"], rows["voltage_V"]
    below = np.flatnonzero(v < 3.3)
    q33 = float("nan")
    if below.size and below[0] > 0:
        i = below[0]
        q33 = float(q[i - 1] + (3.3 - v[i - 1]) * (q[i] - q[i - 1]) / (v[i] - v[i - 1]))
    return {"capacity, mAh/g": d["capacity_mAh_per_g"], "capacity at 3.3 V, mAh/g": q33,
            "end voltage, V": float(v[-1]), "ended by": "; ".join(s.get("ended_by", "?") for s in d.get("steps", [])),
            "NCM|LPSCl area (mesh, live phases), um2": d["mesh"]["interface_area_um2"]}


def _fmt(key: str, value) -> str:
    """Text as it is; capacities and percentages with two decimals, voltages with three, the rest with four digits."""
    if isinstance(value, str):
        return value
    if key.endswith("um2"):
        return f"{value:,.0f}"
    if key.endswith(", V"):
        return f"{value:.3f}"
    return f"{value:.2f}" if ("mAh" in key or "%" in key) else f"{value:.4g}"


def table(seed: int) -> None:
    cols = {"original": (original_dir(seed), original_dir(seed) / "c0.1C"),
            "mirrored in z": (mirrored_dir(seed), mirrored_dir(seed) / "c0.1C")}
    rows: dict[str, dict[str, object]] = {}
    for name, (sdir, case) in cols.items():
        if not (sdir / "structure.npz").exists():
            raise SystemExit(f"{sdir / 'structure.npz'} missing: run 'mirror.py make {seed}' first")
        for k, v in {**case_numbers(case), **structure_numbers(sdir)}.items():
            rows.setdefault(k, {})[name] = v
    print(f"| 80 wt% seed {seed}, 0.1C | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for k, vals in rows.items():
        print(f"| {k.replace('|', chr(92) + '|')} | " + " | ".join(_fmt(k, vals.get(c, "")) for c in cols) + " |")


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[0] not in ("make", "table") or not argv[1].isdigit():
        raise SystemExit("usage: mirror.py make|table SEED")
    seed = int(argv[1])
    if argv[0] == "make":
        print(make(seed))
    else:
        table(seed)


if __name__ == "__main__":
    main(sys.argv[1:])
