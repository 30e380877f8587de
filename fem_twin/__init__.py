"""fem_twin: finite-element digital twin of all-solid-state battery composite cathodes.

Pipeline (each stage a module; objects crossing stages are small dataclasses that save/load;
``docs/architecture.md``)::

    ElectrodeDesign --generate--> VoxelImage --analyze--> StructureReport
                                     |
                                     +--build_mesh--> TaggedMesh --effective_conductivity--> ConductivityResult
                                     |
                                     +--discharge(DischargeSettings)--> DischargeResult (+ CSV, JSON, XDMF)

The public API, importable from the package::

    from fem_twin import (Composition, ElectrodeDesign, generate, VoxelImage, analyze, build_mesh,
                          effective_conductivity, DischargeSettings, discharge, ParameterSet, Protocol)

Importing the package has no side effects and does not import DOLFINx: these names are loaded on
first use (module ``__getattr__``); the FEM stages import DOLFINx then.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: public name -> (module, attribute)
_API = {
    "Composition": ("fem_twin.design", "Composition"),
    "ElectrodeDesign": ("fem_twin.design", "ElectrodeDesign"),
    "generate": ("fem_twin.microstructure.generate", "generate"),
    "VoxelImage": ("fem_twin.microstructure.image", "VoxelImage"),
    "analyze": ("fem_twin.analysis.report", "analyse"),
    "analyse": ("fem_twin.analysis.report", "analyse"),
    "StructureReport": ("fem_twin.analysis.report", "StructureReport"),
    "effective_conductivity": ("fem_twin.fem.conductivity", "effective_conductivity"),
    "DischargeSettings": ("fem_twin.fem.settings", "DischargeSettings"),
    "SteppingOptions": ("fem_twin.fem.settings", "SteppingOptions"),
    "discharge": ("fem_twin.fem.discharge_run", "discharge"),
    "run_discharge": ("fem_twin.fem.discharge_run", "run_discharge"),
    "DischargeResult": ("fem_twin.fem.discharge_run", "DischargeResult"),
    "ParameterSet": ("fem_twin.parameters.cell", "ParameterSet"),
    "Protocol": ("fem_twin.protocol", "Protocol"),
    "InputError": ("fem_twin.errors", "InputError"),
}

__all__ = sorted(_API) + ["build_mesh", "__version__"]


def build_mesh(labels, voxel_um: float, separator_um: float = 0.0, mesher: str = "voxel", comm=None, **kw):
    """Tagged tetrahedral mesh of a label image with ``separator_um`` of LPSCl below it, by the mesher
    called ``mesher`` (voxel, smooth, smooth-coarse: :mod:`fem_twin.meshing.meshers`); ``kw``: the
    mesher's options (e.g. ``separator_growth``)."""
    from ._dolfinx import MPI
    from .meshing.meshers import get_mesher

    return get_mesher(mesher)(labels, voxel_um, separator_um, MPI.COMM_WORLD if comm is None else comm, **kw)


def __getattr__(name):
    try:
        module, attr = _API[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # (once)
    return value


def __dir__():
    return sorted(set(globals()) | set(_API))
