"""Through-thickness thirds of the 15 rate-study structures, as a markdown table.

Run from the repository root with the project's python:

    .venv/bin/python docs/data/rate_study/thirds.py

Each row: one structure (``docs/data/rate_study/study/ncm<W>_seed<S>/structure.npz``); per third
(separator / middle / collector) the LPSCl volume fraction, the NCM|LPSCl area per NCM volume
(1/um) and the mean distance of the NCM to the nearest contact voxel (um), from
:func:`fem_twin.analysis.profile.through_thickness_bands` (x/y periodic; the NCM on z = 0 touches
the cell's LPSCl separator, as in the discharge); the last column is the collector third's area per
NCM volume over the separator third's. A missing structure is named, not skipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fem_twin.analysis.profile import through_thickness_bands

STUDY = Path(__file__).resolve().parent / "study"


def main() -> None:
    print("| structure | LPSCl fraction | NCM\\|LPSCl area / NCM volume, 1/um | NCM distance to contact, um | collector / separator area |")
    print("|---|---|---|---|---|")
    for w in (60, 70, 80):
        for s in range(1, 6):
            f = STUDY / f"ncm{w}_seed{s}" / "structure.npz"
            if not f.exists():
                print(f"| {w} wt%, seed {s} | missing: {f} | | | |")
                continue
            with np.load(f) as z:
                bands = through_thickness_bands(z["labels"], float(z["voxel_size_um"]), 3)
            lps = " / ".join(f"{b['volume_fraction']['lpscl']:.3f}" for b in bands)
            area = [b["contact_area_per_ncm_volume_per_m"] / 1e6 for b in bands]
            dist = " / ".join(f"{b['ncm_distance_to_contact_um']:.2f}" for b in bands)
            print(f"| {w} wt%, seed {s} | {lps} | {' / '.join(f'{a:.3f}' for a in area)} | {dist} "
                  f"| {area[2] / area[0]:.2f} |")


if __name__ == "__main__":
    main()
