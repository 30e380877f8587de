"""Import DOLFINx the same way on every install.

The PyPI wheel ``dolfinx-solver-real`` needs ``import dolfinx_solver`` before ``dolfinx`` or
``petsc4py`` (it puts its MPI and PETSc libraries on the loader path); conda-forge installs have
no such module. Every fem_twin module that needs DOLFINx imports it through here::

    from fem_twin._dolfinx import dolfinx, MPI, PETSc
"""

from __future__ import annotations

try:  # PyPI wheel
    import dolfinx_solver  # noqa: F401
except ImportError:  # conda-forge or a source build
    pass

import dolfinx  # noqa: E402
import dolfinx.fem.petsc  # noqa: E402,F401
from mpi4py import MPI  # noqa: E402
from petsc4py import PETSc  # noqa: E402

__all__ = ["dolfinx", "MPI", "PETSc"]
