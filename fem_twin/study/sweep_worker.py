"""The structure stage of one sweep case, run as its own process by the sweep's runner::

    python -m fem_twin.study.sweep_worker STRUCTURE_DIR

reads ``STRUCTURE_DIR/sweep_structure.json`` (``design``: the ElectrodeDesign as a dict, ``seed``,
``conductivity``: bool, ``method``: fv or p1) and makes what is missing there:
``structure.npz`` / ``design.json`` / ``structure.vti`` (like ``fem-twin generate``),
``analysis.json`` (like ``fem-twin analyze``, without the pictures) and, with ``conductivity``,
``conductivity_ncm.json`` and ``conductivity_lpscl.json`` along z (like ``fem-twin conductivity``,
without fields). A file that exists and loads is kept, so a killed stage continues where it stopped.
Exit 0 when everything is there, 2 on bad input (one line on stderr), 1 on another error.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from ..errors import FemTwinError

STRUCTURE_JOB = "sweep_structure.json"


def conductivity_file(phase: str) -> str:
    """``conductivity_<phase>.json`` (along z), the name ``fem-twin conductivity`` writes."""
    return f"conductivity_{phase}.json"


def structure_stage(d: Path) -> dict:
    """Make the missing files of ``d`` (see the module docstring); returns what was done."""
    import numpy as np

    from ..analysis.report import StructureReport, analyse
    from ..design import ElectrodeDesign
    from ..microstructure.generate import generate
    from ..microstructure.image import VoxelImage

    d = Path(d)
    job = json.loads((d / STRUCTURE_JOB).read_text())
    design = ElectrodeDesign.from_dict(job["design"])
    seed = int(job["seed"])
    done = {}
    image = None
    try:
        image = VoxelImage.load(d)
        if image.design is None or not image.design.same_as(design):
            image = None
    except (FemTwinError, OSError, ValueError, KeyError):
        image = None
    if image is None:
        image = dataclasses.replace(generate(design, np.random.default_rng(seed)), seed=seed)
        image.save(d)
        done["generated"] = True
    try:
        StructureReport.load(d)
    except (FemTwinError, OSError, ValueError, KeyError, TypeError):
        analyse(image).save(d)
        done["analysed"] = True
    if job.get("conductivity"):
        from ..fem.conductivity import effective_conductivity

        method = job.get("method", "fv")
        for phase in ("ncm", "lpscl"):
            path = d / conductivity_file(phase)
            try:
                old = json.loads(path.read_text())
                if old.get("method") == method and old.get("axis") in ("z", 2):
                    continue
            except (OSError, ValueError):
                pass
            r = effective_conductivity(image.labels, image.voxel_size_um, phase, "z", method=method)
            r.save_json(path)
            done[f"conductivity_{phase}"] = r.sigma_eff_S_per_m
    return done


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m fem_twin.study.sweep_worker STRUCTURE_DIR", file=sys.stderr)
        return 2
    try:
        done = structure_stage(Path(argv[0]))
    except FemTwinError as exc:
        print(f"sweep structure: error: {exc}", file=sys.stderr)
        return 2
    print(f"structure stage done: {done or 'nothing to do'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
