"""Interface kinetics on the true area of a voxelised surface (issue 15): smoothed-normal weights.

On the voxel (Kuhn) mesh every NCM | LPSCl facet is axis-aligned, so the staircase has
``|n_x| + |n_y| + |n_z|`` times the area of the smooth surface it digitises (~1.5x for a sphere)
and the interface kinetics, integrated over it, carry the current on too much area. With
``ParameterSet.interface_area = "smoothed-normal"`` each interface facet F weighs its kinetics by

    w_F(a) = |n_s(a) . n_F|,    n_s = grad(G_sigma * chi_NCM) / |grad(G_sigma * chi_NCM)|

(``chi_NCM`` the NCM indicator of the voxel image, ``G_sigma`` a Gaussian of ``sigma`` voxels,
mirror boundary conditions; n_s evaluated at the facet's vertices a, so the weight enters the
vertex rule of :mod:`fem_twin.fem.interface_nodal` and the UFL forms identically as
``abs(dot(n_s('+'), n('+')))`` with n_s a P1 vector function). Over a staircase piece of a smooth
surface with normal n the facets facing e_i have |n_i| of its area, so the weighted area is
``sum_i |n_i| |n_i| = 1`` times the true area when n_s = n: the weights turn the staircase area
into the smooth area facet by facet (a flat axis-aligned face keeps weight 1, where the
analysis' global factor 2/3 would be wrong).

Measured by :func:`measure_sphere` (weights at the vertices, vertex rule: equal to the meshed
values to 1e-14; ``python benchmarks/spm_pybamm.py --areas``), area / true area::

    shape, R (voxels)          raw    raw x 2/3   sigma = 0.75   1.0     1.5     2.0     3.0
    ball on a corner,  4       1.552  1.035       1.028          1.024   1.022   1.022   1.023
    ball on a centre,  4       1.343  0.895       0.963          0.958   0.952   0.950   0.948
    ball on a corner,  6       1.485  0.990       1.018          1.010   1.003   1.002   1.002
    ball on a centre,  6       1.446  0.964       1.009          1.002   0.994   0.991   0.989
    hemisphere,        6       1.485  0.990       1.018          1.010   1.003   1.002   1.000
    ball on a corner, 10       1.509  1.006       1.022          1.013   1.006   1.005   1.005
    ball on a centre, 10       1.456  0.971       1.009          1.001   0.994   0.992   0.991
    ball on a corner, 15       1.519  1.013       1.027          1.018   1.011   1.009   1.009
    ball on a centre, 15       1.479  0.986       1.009          1.002   0.996   0.994   0.993

From R = 6 voxels on, sigma >= 1.5 is within 1.1 % everywhere, where the isotropic 2/3 of
:mod:`fem_twin.analysis.contact` spreads over 0.964-1.013 with where the centre falls; sigma =
1.5 (the least smoothing of that accuracy: small particles keep their own normals) is the
default. Unnormalised gradients are not weights (they carry 1/voxel: 0.17-0.34 of the area).
"""

from __future__ import annotations

import math

import numpy as np

from .. import phases
from .._dolfinx import MPI, dolfinx

#: Gaussian width (voxels) of the smoothed NCM indicator whose gradient gives the normals (the
#: table above; = ParameterSet.interface_normal_sigma_vox's default)
DEFAULT_SIGMA_VOX = 1.5


def smoothed_gradient(labels: np.ndarray, sigma_vox: float, phase: int = phases.NCM) -> np.ndarray:
    """(3, nx, ny, nz) gradient (per voxel) of the Gaussian-smoothed indicator of ``phase`` at
    the voxel centres (derivative-of-Gaussian filters, mirror boundaries)."""
    from scipy.ndimage import gaussian_filter

    chi = (np.asarray(labels) == phase).astype(np.float64)
    out = np.empty((3,) + chi.shape)
    for axis in range(3):
        order = [0, 0, 0]
        order[axis] = 1
        out[axis] = gaussian_filter(chi, sigma_vox, order=order, mode="reflect", truncate=4.0)
    return out


def normals_at(grad: np.ndarray, points_vox: np.ndarray, normalise: bool = True) -> np.ndarray:
    """(n, 3) smoothed normals (outward of the phase: -grad) at ``points_vox`` (n, 3) in voxel
    units of the image frame (voxel (i, j, k) spans [i, i+1] x [j, j+1] x [k, k+1]); trilinear
    interpolation of the voxel-centre gradients (clamped at the image's faces). ``normalise``:
    unit vectors (zero where the gradient vanishes), else the raw gradient (1/voxel)."""
    from scipy.ndimage import map_coordinates

    pts = np.asarray(points_vox, float).reshape(-1, 3)
    coords = (pts - 0.5).T
    g = np.stack([map_coordinates(grad[a], coords, order=1, mode="nearest") for a in range(3)], axis=1)
    n = -g
    if normalise:
        mag = np.linalg.norm(n, axis=1, keepdims=True)
        n = np.divide(n, mag, out=np.zeros_like(n), where=mag > 0)
    return n


def image_frame(domains, shape, voxel_um: float) -> tuple[float, float]:
    """(voxel size, z of the image's k = 0 plane) of a mesh whose composite is the image
    ``shape`` ending at the collector plane z_top (separator layers, uniform or graded, below)."""
    return float(voxel_um), float(domains.z_top_um - shape[2] * voxel_um)


def attach_smoothed_normals(domains, labels: np.ndarray, voxel_um: float,
                            sigma_vox: float = DEFAULT_SIGMA_VOX):
    """Give ``domains`` its interface normal field (``domains.interface_normal``: a P1 vector
    Function on the parent mesh, the unit smoothed normal at every vertex) and the weighted
    interface area ``domains.interface_weighted_area_um2`` (collective; every rank passes the
    same ``labels``, the image the mesh was built from)."""
    msh = domains.parent
    h, z0 = image_frame(domains, np.shape(labels), voxel_um)
    grad = smoothed_gradient(labels, sigma_vox)
    V = dolfinx.fem.functionspace(msh, ("Lagrange", 1, (3,)))
    xdof = V.tabulate_dof_coordinates()
    pts = np.column_stack([xdof[:, 0] / h, xdof[:, 1] / h, (xdof[:, 2] - z0) / h])
    ns = dolfinx.fem.Function(V, name="interface_normal")
    ns.x.array[:] = normals_at(grad, pts).ravel()
    domains.interface_normal = ns
    domains.interface_sigma_vox = float(sigma_vox)
    domains.interface_weighted_area_um2 = weighted_area_ufl(domains)
    return ns


def weighted_area_ufl(domains) -> float:
    """int_Gamma |n_s . n| dS with the vertex rule (the weight the discharge forms use)."""
    import ufl

    _, dS, _ = domains.measures()
    from .domains import DS_INTERFACE

    n = ufl.FacetNormal(domains.parent)
    w = interface_weight_ufl(domains, n)
    w = dolfinx.fem.Constant(domains.parent, 1.0) if w is None else w
    qd = {"quadrature_rule": "vertex", "quadrature_degree": 1}
    val = dolfinx.fem.assemble_scalar(dolfinx.fem.form(w * dS(DS_INTERFACE, metadata=qd)))
    return domains.parent.comm.allreduce(val, op=MPI.SUM)


def interface_weight_ufl(domains, n=None):
    """The UFL weight of the interface kinetics: |n_s('+') . n('+')|, or None without normals."""
    import ufl

    ns = getattr(domains, "interface_normal", None)
    if ns is None:
        return None
    n = ufl.FacetNormal(domains.parent) if n is None else n
    return abs(ufl.dot(ns("+"), n("+")))


# -- measurement on voxelised spheres (no finite elements) ----------------------------------------
def voxel_ball(r_vox: float, pad: int = 3, centre: str = "corner") -> np.ndarray:
    """Labels (NCM inside, LPSCl outside) of a ball of radius ``r_vox`` voxels centred on a voxel
    corner or a voxel centre."""
    n = 2 * (int(math.ceil(r_vox)) + pad) + (1 if centre == "centre" else 0)
    c = np.arange(n) + 0.5 - n / 2
    X, Y, Z = np.meshgrid(c, c, c, indexing="ij")
    lab = np.full((n, n, n), phases.LPSCL, np.uint8)
    lab[X ** 2 + Y ** 2 + Z ** 2 < r_vox ** 2] = phases.NCM
    return lab


def staircase_facets(labels: np.ndarray, phase: int = phases.NCM):
    """Kuhn triangles of the faces between ``phase`` and the rest (interior faces only): (m, 3, 3)
    vertex coordinates (voxel units) and (m, 3) unit normals. Each voxel face is split along one
    diagonal into two triangles (which diagonal does not matter for the sums below up to the
    vertex rule's averaging)."""
    a = np.asarray(labels) == phase
    tris, nrm = [], []
    for axis in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(0, -1), slice(1, None)
        diff = a[tuple(lo)] != a[tuple(hi)]
        idx = np.argwhere(diff).astype(float)
        idx[:, axis] += 1.0  # the face plane between voxel i and i + 1
        u, v = [(axis + 1) % 3, (axis + 2) % 3]
        e_u, e_v = np.eye(3)[u], np.eye(3)[v]
        p00 = idx
        quad = np.stack([p00, p00 + e_u, p00 + e_u + e_v, p00 + e_v], axis=1)
        tris.append(quad[:, [0, 1, 2]])
        tris.append(quad[:, [0, 2, 3]])
        n = np.zeros((2 * len(idx), 3))
        n[:, axis] = 1.0
        nrm.append(n)
    return np.concatenate(tris), np.concatenate(nrm)


def measure_sphere(labels: np.ndarray, true_area_vox2: float, sigma_vox: float, mode: str = "vertex",
                   normalise: bool = True) -> float:
    """(weighted staircase area) / (true area) on a voxel image: the weight |n_s . n_F| at the
    triangle vertices (``mode='vertex'``, averaged with the vertex rule as in the discharge model)
    or at the triangle centroid (``'centroid'``)."""
    tri, n_f = staircase_facets(labels)
    grad = smoothed_gradient(labels, sigma_vox)
    area = 0.5  # every Kuhn triangle of a unit voxel face
    if mode == "vertex":
        ns = normals_at(grad, tri.reshape(-1, 3), normalise).reshape(-1, 3, 3)
        w = np.abs(np.einsum("tkc,tc->tk", ns, n_f)).mean(axis=1)
    else:
        ns = normals_at(grad, tri.mean(axis=1), normalise)
        w = np.abs(np.einsum("tc,tc->t", ns, n_f))
    return float(area * w.sum() / true_area_vox2)
