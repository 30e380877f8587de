"""Pinch contacts of a tetrahedral phase: where its cells touch only at a vertex or along an edge.

A P1 space couples every pair of cells that share a vertex, so two particles of a phase that touch
at a single mesh vertex (or along one edge) conduct through it, with a conductance that falls
like h under refinement (docs/fidelity.md). The image analysis and the finite-volume conductivity
count face (6-) connectivity only. :func:`unglue_pinches` gives such a phase mesh the same
connectivity: it duplicates every vertex whose cells fall into more than one group of cells joined
through facets that contain that vertex, so cells that met only at the vertex or along an edge no
longer share it. Pure numpy/scipy (array in, array out); no DOLFINx.
"""

from __future__ import annotations

import numpy as np

#: local vertices of the four facets of a tetrahedron (facet k omits vertex k)
_FACETS = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])


def unglue_pinches(tets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """New vertex numbers of the corners of ``tets`` ((m, 4) int vertex indices of one phase).

    Two corners ``(t, i)`` and ``(s, j)`` stay one vertex when they are the same vertex and the
    cells t and s are joined by a chain of cells around it, each consecutive pair sharing a facet
    that contains the vertex (the components of that "corner graph"). Returns ``(cells, source)``:
    ``cells`` (m, 4) int64 in 0..n-1 and ``source`` (n,) the input vertex each new vertex copies.
    A manifold mesh comes back renumbered only (n = number of distinct input vertices)."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    tets = np.asarray(tets, dtype=np.int64)
    if tets.ndim != 2 or tets.shape[1] != 4:
        raise ValueError(f"tets: expected an (m, 4) array of vertex indices, got shape {tets.shape}")
    m = tets.shape[0]
    if m == 0:
        return np.zeros((0, 4), np.int64), np.zeros(0, np.int64)
    slots = np.sort(tets[:, _FACETS], axis=2).reshape(-1, 3)  # facet slot t * 4 + k
    order = np.lexsort(slots.T[::-1])
    same = np.all(slots[order[1:]] == slots[order[:-1]], axis=1)  # a facet shared by two cells
    a, b = order[:-1][same], order[1:][same]
    ta, ka = np.divmod(a, 4)
    tb = b // 4
    rows, cols = [], []
    for j in range(3):  # the facet's three vertices: join the two cells' corners of each
        la = _FACETS[ka, j]
        lb = np.argmax(tets[tb] == tets[ta, la][:, None], axis=1)
        rows.append(ta * 4 + la)
        cols.append(tb * 4 + lb)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    graph = sp.coo_matrix((np.ones(rows.size, np.int8), (rows, cols)), shape=(4 * m, 4 * m))
    _, corner = connected_components(graph, directed=False)
    # corners of one vertex without a shared facet end up in different components already; number
    # the components compactly
    ids, cells = np.unique(corner, return_inverse=True)
    source = np.empty(ids.size, np.int64)
    source[cells] = tets.ravel()
    return cells.reshape(m, 4).astype(np.int64), source
