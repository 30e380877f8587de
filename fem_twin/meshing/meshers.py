"""The meshers by name: ``voxel`` (6 Kuhn tetrahedra per voxel, exact voxel geometry) and ``smooth``
(smoothed phase interfaces meshed by gmsh, :mod:`fem_twin.meshing.smooth_mesh`); ``smooth-coarse``:
``smooth`` with the surface coarsened where it is flat (:mod:`fem_twin.meshing.coarsen_surface`,
fewer points on the interfaces, so fewer unknowns); ``smooth-periodic``: ``smooth`` with the x and y
faces meshed alike and joined, so the piece is periodic in x and y as the generated structures are
(:func:`fem_twin.fem.periodic_topology.make_periodic`; no cut-face losses of small pieces).

Both take ``(labels, voxel_um, separator_um, comm, separator_growth=...)`` and return a
:class:`fem_twin.meshing.voxel_mesh.TaggedMesh` with the same cell and facet tags, so every solver
takes either. Which one corresponds to the seed paper: GeoDict/BEST solve on the voxel geometry
(finite volumes on voxels), i.e. the ``voxel`` mesher's geometry.

The default of the commands, the demo, the study and :class:`fem_twin.fem.settings.DischargeSettings`
is ``smooth`` (issue 15): its interface kinetics see the true area (one particle against PyBaMM within
4.7-6.6 mV instead of 14-16 mV on the staircase) with 0.76x the voxel mesh's unknowns; the low-level
:func:`fem_twin.fem.discharge_run.run_discharge` still meshes with ``voxel`` when given no mesher.
"""

from __future__ import annotations

from ..errors import InputError

MESHERS = ("voxel", "smooth", "smooth-coarse", "smooth-periodic")
#: meshers whose x and y faces are joined (the structure must be periodic in x and y, as generated)
PERIODIC_MESHERS = ("smooth-periodic",)
#: mesher of ``fem-twin mesh`` / ``discharge`` / the study and the demo when none is given
DEFAULT_MESHER = "smooth"


def check_mesher(name: str) -> str:
    if name not in MESHERS:
        raise InputError("--mesher", f"one of {', '.join(MESHERS)}", name)
    return name


def get_mesher(name: str):
    """The mesh builder called ``name`` (see the module docstring)."""
    check_mesher(name)
    if name == "smooth":
        from .smooth_mesh import build_smooth_mesh

        return build_smooth_mesh
    if name == "smooth-periodic":
        from .smooth_mesh import build_periodic_smooth_mesh

        return build_periodic_smooth_mesh
    if name == "smooth-coarse":
        from .smooth_mesh import build_coarse_smooth_mesh

        return build_coarse_smooth_mesh
    from .voxel_mesh import build_tagged_mesh

    return build_tagged_mesh


def add_mesher_argument(parser, default: str = DEFAULT_MESHER) -> None:
    """``--mesher voxel|smooth`` on a command line parser."""
    parser.add_argument("--mesher", default=default, choices=MESHERS,
                        help=f"mesh of the structure: voxel (6 tetrahedra per voxel, the voxel geometry of the "
                             f"seed's tools) or smooth (smoothed interfaces, gmsh; cells grow away from "
                             f"interfaces), smooth-coarse (smooth with the interfaces' flat parts coarsened), "
                             f"smooth-periodic (smooth, periodic in x and y) "
                             f"(default {default})")
