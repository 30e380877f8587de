"""fem_twin: finite-element digital twin of all-solid-state battery composite cathodes.

Pipeline (each stage a module; objects crossing stages are small dataclasses that save/load):

    ElectrodeDesign --generate--> VoxelImage --analyse--> StructureReport
                                     |
                                     +--mesh--> TaggedMesh --conductivity / discharge--> results

Importing the package has no side effects and does not import DOLFINx; the FEM stages import it
lazily.
"""

__version__ = "0.1.0"
