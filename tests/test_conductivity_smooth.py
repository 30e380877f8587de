"""Effective conductivity by P1 on the smooth mesh (``mesher="smooth"``): an exact case, cluster
pruning on the mesh, rank independence, the command line.

Exact only where the smoothed geometry is a prism along the axis: a planar interface stays planar
(its points move within the plane), so slabs of a phase give sigma_eff / sigma = (mesh phase
volume) / (box volume) with a linear potential. An axis-aligned square column does *not* stay a
prism: its points next to the box planes smooth with neighbours on one side only, so its
cross-section varies along the column (measured: columns_image() NCM 2.7 % below its mesh volume
fraction); that case is not asserted as exact.
"""

import json

import numpy as np
import pytest

from conftest import small_generated

from fem_twin import phases
from fem_twin._dolfinx import MPI
from fem_twin.errors import InputError
from fem_twin.fem.conductivity import effective_conductivity
from fem_twin.meshing.smooth_mesh import build_smooth_mesh

H = 0.5
NCM, LPS, PORE = phases.NCM, phases.LPSCL, phases.PORE
EXACT = 1e-10


def slabs_image(floating=False):
    """NCM slab x < 3 h, a pore slab 3 h <= x < 5 h, LPSCl slab x >= 5 h: planar interfaces normal
    to x; ``floating``: an NCM block in the pore slab that touches no plane."""
    lab = np.full((8, 7, 6), LPS, np.uint8)
    lab[:3] = NCM
    lab[3:5] = PORE
    if floating:
        lab[4, 2:4, 2:4] = NCM  # 1 voxel of pore to the slab, away from both z planes
    return lab


@pytest.mark.mpi
@pytest.mark.parametrize("solver", ["gamg", "mumps"])
def test_smooth_slabs_are_exact_and_floating_cluster_is_pruned(solver):
    lab = slabs_image()
    for phase in ("ncm", "lpscl"):
        for axis in "yz":
            r = effective_conductivity(lab, H, phase, axis, sigma_S_per_m=1.0, solver=solver, rtol=1e-12,
                                       method="p1", mesher="smooth")
            assert r.mesher == "smooth" and r.method == "p1" and r.percolates
            # planes stay planes: the slab keeps its voxel volume and the field is linear, so
            # sigma_eff / sigma = the mesh phase volume fraction = 3/8 exactly
            assert r.active_volume_fraction == pytest.approx(3 / 8, rel=1e-12)
            assert r.volume_fraction == r.active_volume_fraction
            assert r.relative_conductivity == pytest.approx(3 / 8, rel=EXACT)
    # the floating block (4 voxels, smoothed) counts in eps, not in the current; MUMPS would give
    # NaN on the singular matrix if it were kept. Its smoothing (the pore region's volume
    # correction) moves the slab's plane by ~1e-4 relative, so the value is 3/8 to 1e-3 only
    lab = slabs_image(floating=True)
    box = np.prod(np.array(lab.shape) * H)
    r = effective_conductivity(lab, H, "ncm", "z", sigma_S_per_m=1.0, solver=solver, rtol=1e-12,
                               method="p1", mesher="smooth")
    assert r.percolates and "active" in r.message
    assert r.volume_fraction - r.active_volume_fraction == pytest.approx(4 * H ** 3 / box, rel=0.2)
    assert r.relative_conductivity == pytest.approx(r.active_volume_fraction, rel=1e-6)
    assert r.relative_conductivity == pytest.approx(3 / 8, rel=1e-3)
    # along x neither slab phase connects the two x planes
    for phase in ("ncm", "lpscl"):
        r = effective_conductivity(lab, H, phase, "x", method="p1", mesher="smooth")
        assert not r.percolates and r.relative_conductivity == 0.0 and "smooth mesh" in r.message


@pytest.mark.mpi
def test_smooth_ranks_agree_and_tagged_mesh_reused():
    """COMM_WORLD (1 or 2 ranks) gives the serial result; a smooth tagged mesh passed in gives the
    result of meshing inside; the pruned volume matches the image's 26-spanning volume to 1 %."""
    from fem_twin.fem.conductivity import active_mask

    lab = small_generated(seed=4).labels[:14, :14, :]
    tm = build_smooth_mesh(lab, H, 0.0, MPI.COMM_WORLD)
    tm_self = build_smooth_mesh(lab, H, 0.0, MPI.COMM_SELF)
    for phase, label in (("ncm", NCM), ("lpscl", LPS)):
        a = effective_conductivity(lab, H, phase, "z", rtol=1e-12, method="p1", mesher="smooth", tagged_mesh=tm)
        b = effective_conductivity(lab, H, phase, "z", solver="mumps", method="p1", mesher="smooth",
                                   tagged_mesh=tm_self, comm=MPI.COMM_SELF)
        assert a.percolates and a.num_dofs == b.num_dofs and a.num_cells == b.num_cells
        assert a.relative_conductivity == pytest.approx(b.relative_conductivity, rel=1e-9)
        assert a.active_volume_fraction == pytest.approx(b.active_volume_fraction, rel=1e-12)
        img_active = np.count_nonzero(active_mask(lab, label, 2, 26)) / lab.size
        assert a.active_volume_fraction == pytest.approx(img_active, rel=0.01)
        assert 0 < a.relative_conductivity < a.active_volume_fraction
    # meshing inside gives the same mesh and result (gmsh is deterministic)
    c = effective_conductivity(lab, H, "lpscl", "z", rtol=1e-12, method="p1", mesher="smooth")
    assert c.num_dofs == a.num_dofs and c.relative_conductivity == pytest.approx(a.relative_conductivity, rel=1e-9)


def test_smooth_bad_input():
    lab = slabs_image()
    with pytest.raises(InputError, match="--mesher"):
        effective_conductivity(lab, H, "ncm", "z", method="fv", mesher="smooth")
    with pytest.raises(InputError, match="--mesher"):
        effective_conductivity(lab, H, "ncm", "z", method="p1", mesher="kuhn")
    with pytest.raises(InputError, match="--connectivity"):
        effective_conductivity(lab, H, "ncm", "z", method="p1", mesher="smooth", connectivity=18)


def edge_contact_image():
    """Two NCM blocks in LPSCl, stacked along z and shifted along x, touching along one edge of
    voxels only: 26-connected from z = 0 to the top, not 6-connected."""
    lab = np.full((8, 5, 10), LPS, np.uint8)
    lab[0:4, 1:4, 0:5] = NCM
    lab[4:8, 1:4, 5:10] = NCM
    return lab


@pytest.mark.mpi
def test_smooth_connectivity_6_cuts_pinch_contacts():
    """P1 on the smooth mesh conducts through the edge contact (vertex connectivity, 26); with
    connectivity=6 the pinch is cut and the NCM does not percolate, as the finite volumes say.
    1 rank = 2 ranks."""
    lab = edge_contact_image()
    fv = effective_conductivity(lab, H, "ncm", "z", method="fv")
    assert not fv.percolates
    tm = build_smooth_mesh(lab, H, 0.0, MPI.COMM_WORLD)
    r26 = effective_conductivity(lab, H, "ncm", "z", method="p1", mesher="smooth", tagged_mesh=tm)
    assert r26.percolates and r26.relative_conductivity > 1e-3
    r6 = effective_conductivity(lab, H, "ncm", "z", method="p1", mesher="smooth", tagged_mesh=tm,
                                connectivity=6)
    assert not r6.percolates and r6.relative_conductivity == 0.0 and "pinch" in r6.message
    assert r6.volume_fraction == pytest.approx(r26.volume_fraction, rel=1e-12)
    a = effective_conductivity(lab, H, "lpscl", "z", method="p1", mesher="smooth", tagged_mesh=tm,
                               rtol=1e-12)
    b = effective_conductivity(lab, H, "lpscl", "z", method="p1", mesher="smooth", tagged_mesh=tm,
                               rtol=1e-12, connectivity=6)
    # the LPSCl voxels on the other diagonal of the contact edge meet along it too: cutting that
    # pinch leaves a slit (the vertices along the edge doubled), so a little less current
    assert b.percolates and b.connectivity == 6 and b.num_dofs > a.num_dofs
    assert 0.9 * a.relative_conductivity < b.relative_conductivity < a.relative_conductivity
    c = effective_conductivity(lab, H, "lpscl", "z", method="p1", mesher="smooth", solver="mumps",
                               connectivity=6, comm=MPI.COMM_SELF)
    assert c.relative_conductivity == pytest.approx(b.relative_conductivity, rel=1e-8)


@pytest.mark.mpi
def test_cli_conductivity_smooth(shared_dir):
    from fem_twin.cli import main
    from fem_twin.microstructure.image import VoxelImage

    comm = MPI.COMM_WORLD
    if comm.rank == 0:
        VoxelImage(slabs_image(), H).save(shared_dir)
    comm.Barrier()
    assert main(["conductivity", str(shared_dir), "--phase", "ncm", "--method", "p1", "--mesher", "smooth",
                 "--sigma", "1", "--rtol", "1e-12"]) == 0
    comm.Barrier()
    data = json.loads((shared_dir / "conductivity_ncm.json").read_text())
    assert data["mesher"] == "smooth" and data["method"] == "p1"
    assert data["relative_conductivity"] == pytest.approx(3 / 8, rel=EXACT)
    assert (shared_dir / "conductivity_ncm.xdmf").exists()
    assert main(["conductivity", str(shared_dir), "--phase", "ncm", "--mesher", "smooth"]) == 2  # fv
