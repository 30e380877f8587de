"""How much of each 50 um structure hangs on edge or corner contacts (issue 19, part 3).

The meshes conduct through voxels that touch at an edge or a corner (26-connectivity), but P1's
conductance of such a contact halves with each refinement (docs/fidelity.md), so whatever is reached
only through them is not converged. For each structure of the study (the cut mesh: x and y not
periodic, as the 50 um runs) this prints and writes (``edge_contacts.json`` beside this script):

- ``lpscl_edge_only_of_live``: live LPSCl (26-connected to the separator side, k = 0) that is not
  6-connected to it, as a fraction of the live LPSCl;
- ``contact_faces_on_edge_only``: the share of the NCM|LPSCl voxel faces (live NCM against live
  LPSCl) whose LPSCl voxel is edge-only;
- ``ncm_nearer_edge_only``: the share of the live NCM whose nearest contact voxel (Euclidean) touches
  edge-only LPSCl rather than face-attached LPSCl, and ``their_distance_to_face_contact_um``: the mean
  distance of that NCM to the nearest NCM voxel touching face-attached LPSCl (all live NCM:
  ``all_ncm_distance_to_face_contact_um``);
- ``dead_lpscl``: LPSCl not connected to the separator side at all, as a fraction of all LPSCl.

    .venv/bin/python docs/data/rate_study/edge_contacts.py      # ~1 min for the 15 structures
"""
import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

from fem_twin import phases
from fem_twin.analysis.connectivity import attached
from fem_twin.analysis.profile import ncm_contact_faces

sys.path.insert(0, str(Path(__file__).resolve().parent))
from p2d_check import live_image  # noqa: E402  (the image the 3D run meshes: dead clusters to pore)

HERE = Path(__file__).resolve().parent
CUT = (False, False, False)


def edge_contact_numbers(labels: np.ndarray, voxel_um: float) -> dict:
    """The numbers of the module docstring for one image (labels as :mod:`fem_twin.phases`). The
    NCM|LPSCl faces are :func:`fem_twin.analysis.profile.ncm_contact_faces` of the live image with
    the edge-only LPSCl, or the face-attached LPSCl, turned to pore."""
    live = live_image(labels)
    lpscl = labels == phases.LPSCL
    ely_ok = live == phases.LPSCL
    ncm_ok = live == phases.NCM
    edge_only = ely_ok & ~attached(lpscl, 2, "low", 6, CUT)
    on_face = ncm_contact_faces(np.where(edge_only, phases.PORE, live), periodic_xy=False)
    on_edge = ncm_contact_faces(np.where(ely_ok & ~edge_only, phases.PORE, live), periodic_xy=False)
    d_face = ndimage.distance_transform_edt(on_face == 0) * voxel_um
    nearer = np.zeros_like(ncm_ok)
    if on_edge.any():
        nearer = ncm_ok & (ndimage.distance_transform_edt(on_edge == 0) * voxel_um < d_face)
    return {"lpscl_edge_only_of_live": float(edge_only.sum() / ely_ok.sum()),
            "contact_faces_on_edge_only": float(on_edge.sum() / (on_edge.sum() + on_face.sum())),
            "ncm_nearer_edge_only": float(nearer.sum() / ncm_ok.sum()),
            "their_distance_to_face_contact_um": float(d_face[nearer].mean()) if nearer.any() else 0.0,
            "all_ncm_distance_to_face_contact_um": float(d_face[ncm_ok].mean()),
            "dead_lpscl": float((lpscl & ~ely_ok).sum() / lpscl.sum())}


def main() -> None:
    study = HERE / "study"
    rows = {}
    print("| structure | edge-only LPSCl, % of live | contact faces on it, % | NCM nearer to it, % "
          "| that NCM to a face contact, um | all NCM, um | dead LPSCl, % |")
    print("|---|---|---|---|---|---|---|")
    for folder in sorted(study.glob("ncm*_seed*")):
        with np.load(folder / "structure.npz") as d:
            r = edge_contact_numbers(d["labels"], float(d["voxel_size_um"]))
        rows[folder.name] = r
        print(f"| {folder.name} | {100 * r['lpscl_edge_only_of_live']:.2f} | {100 * r['contact_faces_on_edge_only']:.2f} "
              f"| {100 * r['ncm_nearer_edge_only']:.2f} | {r['their_distance_to_face_contact_um']:.2f} "
              f"| {r['all_ncm_distance_to_face_contact_um']:.2f} | {100 * r['dead_lpscl']:.2f} |", flush=True)
    (HERE / "edge_contacts.json").write_text(json.dumps(rows, indent=1) + "\n")
    print(f"-> {HERE / 'edge_contacts.json'}")


if __name__ == "__main__":
    main()
