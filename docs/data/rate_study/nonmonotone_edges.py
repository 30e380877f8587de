"""How far the NCM diffusion of each study mesh is from an M-matrix (issue 19; session 37).

    .venv/bin/python docs/data/rate_study/nonmonotone_edges.py [MESH.npz ...]   # default: every structure's cached smooth mesh

The discharge's lumped scheme (lumped mass, kinetics at the nodes) keeps the NCM lithiation inside
(0, 1) when the P1 stiffness of the NCM is an M-matrix: every off-diagonal K_ij <= 0, as on the voxel
mesh's Kuhn tetrahedra. On a general tetrahedral mesh an edge opposite a dihedral angle above 90 deg
can have K_ij > 0, and diffusion can then push a node past c_max. For each smooth mesh (the cache's
``smooth-mesh-*.npz``: points ``x`` in um, ``cells``, ``cell_label``) this assembles the NCM stiffness
K_ij = sum over NCM cells of vol * grad(phi_i) . grad(phi_j) (scipy, vectorised) and prints the share
of the NCM edges with K_ij > 0, the share of NCM nodes touching one, and the largest
K_ij / sqrt(K_ii K_jj) among them; writes ``nonmonotone_edges.json`` beside this script.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
NCM = 1  # fem_twin.phases.NCM (the mesh's cell labels)


def ncm_stiffness(x: np.ndarray, cells: np.ndarray) -> sp.csr_matrix:
    """P1 stiffness (um) of the tetrahedra ``cells`` (n, 4) on the points ``x`` (m, 3)."""
    p = x[cells]
    a = np.concatenate([np.ones((len(cells), 4, 1)), p], axis=2)   # rows (1, x, y, z) of each vertex
    grads = np.linalg.inv(a)[:, 1:, :]                             # column j: grad phi_j
    vol = np.abs(np.linalg.det(a)) / 6.0
    ke = np.einsum("nki,nkj->nij", grads, grads) * vol[:, None, None]
    rows = np.repeat(cells, 4, axis=1).ravel()
    cols = np.tile(cells, (1, 4)).ravel()
    k = sp.coo_matrix((ke.ravel(), (rows, cols)), shape=(len(x), len(x))).tocsr()
    k.sum_duplicates()
    return k


def positive_couplings(k: sp.csr_matrix, nodes: np.ndarray) -> dict:
    """Share of edges with K_ij > 0 (relative to 1e-12 of the largest diagonal), of ``nodes``
    touching one, and the largest K_ij / sqrt(K_ii K_jj) among them."""
    off = sp.triu(k, k=1).tocoo()
    diag = k.diagonal()
    pos = off.data > 1e-12 * np.abs(diag).max()
    touched = np.unique(np.concatenate([off.row[pos], off.col[pos]]))
    ratio = off.data[pos] / np.sqrt(diag[off.row[pos]] * diag[off.col[pos]])
    return {"edges": int(off.nnz), "edges_positive": int(pos.sum()), "edges_positive_share": float(pos.mean()),
            "nodes": int(len(nodes)), "nodes_touching_positive_share": float(len(touched) / len(nodes)),
            "largest_normalised_positive": float(ratio.max()) if ratio.size else 0.0}


def mesh_numbers(path: Path) -> dict:
    with np.load(path) as d:
        x, cells, lab = d["x"], d["cells"], d["cell_label"]
    c = cells[lab == NCM]
    return positive_couplings(ncm_stiffness(x, c), np.unique(c))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    meshes = [Path(a) for a in argv] or sorted((HERE / "study").glob("ncm*_seed*/.fem_twin_cache/smooth-mesh-*.npz"))
    out = {}
    print("| mesh | NCM edges | with K_ij > 0 | NCM nodes touching one | largest K_ij / sqrt(K_ii K_jj) |")
    print("|---|---|---|---|---|")
    for m in meshes:
        r = mesh_numbers(m)
        name = m.parent.parent.name if m.parent.name == ".fem_twin_cache" else str(m)
        out[name] = r
        print(f"| {name} | {r['edges']:,} | {100 * r['edges_positive_share']:.1f} % | "
              f"{100 * r['nodes_touching_positive_share']:.1f} % | {r['largest_normalised_positive']:.3f} |", flush=True)
    if not argv:
        (HERE / "nonmonotone_edges.json").write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
