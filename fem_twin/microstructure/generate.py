"""Seeded generator of the seed's composite cathode (NCM secondary particles, LPSCl, NBR, pores).

Process (the seed's Experimental section, "Building the Digital Twin All-Solid-State Electrodes"):

1. *Secondary-particle envelopes.* Spheres with diameters from the NCM PSD are dropped at random
   centres. A field ``f(x) = max_i (1 - |x - c_i| / r_i)`` is built and the envelope is
   ``f > t``, with ``t`` chosen so that the envelope holds the target volume of NCM + inner pores
   (all radii scaled by the same factor ``1 - t``: overlap is allowed, as in a pressed electrode).
2. *Polyhedral primaries.* The domain is cut into Voronoi cells (primary particles, seeds at the
   density of the seed's 0.57-1.55 um primaries). A primary belongs to a secondary particle when
   its seed point lies inside the envelope; whole polyhedra make the bumpy particle surface. The
   cells are taken in order of ``f`` at their seed point until the envelope volume is reached.
3. *Inner pores.* Randomly chosen primaries at least ~1 um below the particle surface become pore
   until the inner-pore volume of :meth:`ElectrodeDesign.volume_fractions` is reached; the choice
   is weighted by depth below the envelope surface (porous core, denser shell).
4. *Deformable LPSCl.* LPSCl spheres (own PSD) are centred in the interspace and grown together
   (same field-threshold rule, restricted to the interspace) until the LPSCl volume is reached:
   the electrolyte fills the interspace and leaves the places furthest from any electrolyte
   particle centre - crevices between NCM particles - empty.
5. *NBR binder at contacts.* Of the interspace voxels left, those closest to both NCM and LPSCl
   (smallest sum of distances) become binder up to its volume; the rest is outer pore.

Every step is periodic in x and y (a particle cut by a side continues on the opposite side);
z is bounded by the separator plane (z = 0) and the current collector (z = top). All randomness
comes from the ``np.random.Generator`` passed in; same generator state -> identical array.
Volumes are matched by construction to within one primary particle (NCM) or exactly (others).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from .. import phases
from ..design import ElectrodeDesign
from .image import VoxelImage


def generate(design: ElectrodeDesign, rng: np.random.Generator) -> VoxelImage:
    """Generate the voxel image of ``design`` with random numbers from ``rng``."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy.random.Generator (np.random.default_rng(seed))")
    shape = design.shape
    h = design.voxel_um
    n_total = int(np.prod(shape))
    vf = design.volume_fractions()
    n_env = int(round(vf.envelope * n_total))
    n_ncm = int(round(vf.ncm * n_total))
    n_lps = int(round(vf.lpscl * n_total))
    n_nbr = int(round(vf.nbr * n_total))
    size = np.array(shape, dtype=float) * h

    # 1. envelopes --------------------------------------------------------------------------
    d_env = design.ncm_psd.sample(rng, 1.15 * vf.envelope * float(np.prod(size)))
    c_env = rng.random((d_env.size, 3)) * size
    f_env = sphere_field(shape, h, c_env, d_env / 2)

    # 2. primaries --------------------------------------------------------------------------
    cell, n_cells, seed_vox = voronoi_cells(shape, h, design.primary_d_min_um, design.primary_d_max_um, rng)
    cell_vol = np.bincount(cell.ravel(), minlength=n_cells)
    f_seed = f_env.ravel()[seed_vox] + 1e-9 * rng.random(n_cells)  # random tie-break
    order = np.argsort(-f_seed, kind="stable")
    cum = np.cumsum(cell_vol[order])
    k = int(np.searchsorted(cum, n_env))
    if k < cum.size and k > 0 and abs(cum[k - 1] - n_env) <= abs(cum[k] - n_env):
        k -= 1
    in_env = np.zeros(n_cells, bool)
    in_env[order[: k + 1]] = True
    env = in_env[cell]

    # 3. inner pores --------------------------------------------------------------------------
    n_inner = int(env.sum()) - n_ncm
    pore_cell = np.zeros(n_cells, bool)
    if n_inner > 0:
        depth = periodic_edt(env, h)  # distance to the outside of the envelope (um)
        cell_depth = depth.ravel()[seed_vox]
        candidates = np.flatnonzero(in_env & (cell_depth >= 1.0))
        rest = np.flatnonzero(in_env & (cell_depth < 1.0))
        # weighted random order (key u^(1/w), largest first) with weight = depth: deeper primaries
        # are more likely pores, so the particles get a porous core and a denser shell
        keys = rng.random(candidates.size) ** (1.0 / cell_depth[candidates])
        cand = np.concatenate([candidates[np.argsort(-keys, kind="stable")], rng.permutation(rest)])
        cum = np.cumsum(cell_vol[cand])
        j = int(np.searchsorted(cum, n_inner))
        if j < cum.size and j > 0 and abs(cum[j - 1] - n_inner) <= abs(cum[j] - n_inner):
            j -= 1
        pore_cell[cand[: j + 1]] = True
    ncm = env & ~pore_cell[cell]
    del cell

    labels = np.full(shape, phases.PORE, dtype=np.uint8)
    labels[ncm] = phases.NCM

    # 4. LPSCl ---------------------------------------------------------------------------------
    inter = ~env
    inter_idx = np.flatnonzero(inter.ravel())
    n_lps = min(n_lps, inter_idx.size)
    if n_lps > 0:
        d_lps = design.lpscl_psd.sample(rng, vf.lpscl * float(np.prod(size)))
        pick = rng.choice(inter_idx, size=d_lps.size, replace=True)
        centres = (np.column_stack(np.unravel_index(pick, shape)) + rng.random((pick.size, 3))) * h
        g = sphere_field(shape, h, centres, d_lps / 2).ravel()[inter_idx]
        g += 1e-9 * rng.random(g.size)
        top = np.argsort(-g, kind="stable")[:n_lps]
        labels.ravel()[inter_idx[top]] = phases.LPSCL

    # 5. NBR at contacts -------------------------------------------------------------------------
    left = np.flatnonzero((inter & (labels != phases.LPSCL)).ravel())
    n_nbr = min(n_nbr, left.size)
    if n_nbr > 0:
        d_ncm = periodic_edt(labels != phases.NCM, h).ravel()[left]
        d_lps = periodic_edt(labels != phases.LPSCL, h).ravel()[left]
        score = d_ncm + d_lps + 1e-6 * rng.random(left.size)
        take = np.argsort(score, kind="stable")[:n_nbr]
        labels.ravel()[left[take]] = phases.NBR

    return VoxelImage(labels=labels, voxel_size_um=float(h), design_json=design.to_json())


def sphere_field(shape, h: float, centres_um: np.ndarray, radii_um: np.ndarray,
                 reach: float = 1.6) -> np.ndarray:
    """``max_i (1 - |x - c_i| / r_i)`` at voxel centres, periodic in x and y (float32).

    Evaluated within ``reach * r_i`` of each centre (elsewhere ``1 - reach``), so thresholds down
    to ``1 - reach`` (radii grown up to ``reach`` times) are exact. The loop runs over particles,
    each update is a vectorised box.
    """
    nx, ny, nz = shape
    field = np.full(shape, 1.0 - reach, dtype=np.float32)
    for c, r in zip(np.asarray(centres_um, float), np.asarray(radii_um, float)):
        R = reach * r
        lo = np.floor((c - R) / h).astype(int)
        hi = np.ceil((c + R) / h).astype(int)
        ix = np.arange(lo[0], hi[0] + 1)
        iy = np.arange(lo[1], hi[1] + 1)
        iz = np.arange(max(lo[2], 0), min(hi[2], nz - 1) + 1)
        if iz.size == 0:
            continue
        # fold to the periodic domain, avoiding a voxel appearing twice in a large box
        ix = np.unique(ix % nx) if ix.size > nx else ix
        iy = np.unique(iy % ny) if iy.size > ny else iy
        dx = (ix + 0.5) * h - c[0]
        dy = (iy + 0.5) * h - c[1]
        if ix.size == nx:  # box covers the period: take the nearest image
            dx = (dx + nx * h / 2) % (nx * h) - nx * h / 2
        if iy.size == ny:
            dy = (dy + ny * h / 2) % (ny * h) - ny * h / 2
        dz = (iz + 0.5) * h - c[2]
        dist = np.sqrt(dx[:, None, None] ** 2 + dy[None, :, None] ** 2 + dz[None, None, :] ** 2)
        val = (1.0 - dist / r).astype(np.float32)
        sub = np.ix_(ix % nx, iy % ny, iz)
        np.maximum(field[sub], val, out=val)
        field[sub] = val
    return field


def voronoi_cells(shape, h: float, d_min: float, d_max: float, rng: np.random.Generator):
    """Periodic (x, y) Voronoi tessellation of the voxel grid into primary particles.

    Seed density: one seed per volume of a sphere of the mean of ``d_min`` and ``d_max`` (um).
    Returns the cell index of every voxel (int32, ``shape``), the number of cells and the flat
    index of the voxel holding each seed.
    """
    size = np.array(shape, float) * h
    d_mean = 0.5 * (d_min + d_max)
    n = max(1, int(round(np.prod(size) / (np.pi / 6 * d_mean**3))))
    seeds = rng.random((n, 3)) * size
    box = np.array([size[0], size[1], 4.0 * size[2] + 4 * h])  # z not periodic: box far larger
    tree = cKDTree(seeds + np.array([0, 0, 2 * h]), boxsize=box)
    nx, ny, nz = shape
    cell = np.empty(shape, dtype=np.int32)
    gx = (np.arange(nx) + 0.5) * h
    gy = (np.arange(ny) + 0.5) * h
    X, Y = np.meshgrid(gx, gy, indexing="ij")
    for k in range(nz):  # slabs keep memory flat; each slab is one vectorised query
        pts = np.column_stack([X.ravel(), Y.ravel(), np.full(X.size, (k + 0.5) * h + 2 * h)])
        _, idx = tree.query(pts)
        cell[:, :, k] = idx.reshape(nx, ny)
    vox = np.minimum((seeds / h).astype(int), np.array(shape) - 1)
    seed_vox = np.ravel_multi_index(vox.T, shape)
    return cell, n, seed_vox


def periodic_edt(mask: np.ndarray, h: float, pad: int | None = None) -> np.ndarray:
    """Euclidean distance (um) from each True voxel to the nearest False voxel, periodic in x, y."""
    nx, ny, _ = mask.shape
    if pad is None:
        pad = min(max(nx, ny), 40)
    px, py = min(pad, nx), min(pad, ny)
    padded = np.pad(mask, ((px, px), (py, py), (0, 0)), mode="wrap")
    dist = ndimage.distance_transform_edt(padded, sampling=h)
    return dist[px: px + nx, py: py + ny, :].astype(np.float32)
