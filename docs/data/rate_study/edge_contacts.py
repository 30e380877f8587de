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
from pathlib import Path

import numpy as np
from scipy import ndimage

from fem_twin import phases
from fem_twin.analysis.connectivity import attached, live_phases

HERE = Path(__file__).resolve().parent
CUT = (False, False, False)


def _neighbours(mask: np.ndarray) -> np.ndarray:
    """Voxels with a face neighbour in ``mask`` (no wrap-around)."""
    out = np.zeros_like(mask)
    for ax in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[ax], hi[ax] = slice(0, -1), slice(1, None)
        out[tuple(lo)] |= mask[tuple(hi)]
        out[tuple(hi)] |= mask[tuple(lo)]
    return out


def _faces_between(a: np.ndarray, b: np.ndarray) -> int:
    """Number of voxel faces between ``a`` and ``b``."""
    n = 0
    for ax in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[ax], hi[ax] = slice(0, -1), slice(1, None)
        n += int((a[tuple(lo)] & b[tuple(hi)]).sum() + (a[tuple(hi)] & b[tuple(lo)]).sum())
    return n


def edge_contact_numbers(labels: np.ndarray, voxel_um: float) -> dict:
    """The numbers of the module docstring for one image (labels as :mod:`fem_twin.phases`)."""
    lpscl = labels == phases.LPSCL
    ncm_ok, ely_ok = live_phases(labels)
    ely_face = attached(lpscl, 2, "low", 6, CUT)
    edge_only = ely_ok & ~ely_face
    touches_face = ncm_ok & _neighbours(ely_face)
    touches_edge = ncm_ok & _neighbours(edge_only)
    d_face = ndimage.distance_transform_edt(~touches_face) * voxel_um
    nearer = np.zeros_like(ncm_ok)
    if touches_edge.any():
        nearer = ncm_ok & (ndimage.distance_transform_edt(~touches_edge) * voxel_um < d_face)
    return {"lpscl_edge_only_of_live": float(edge_only.sum() / ely_ok.sum()),
            "contact_faces_on_edge_only": _faces_between(ncm_ok, edge_only) / _faces_between(ncm_ok, ely_ok),
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
