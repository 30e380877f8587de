"""The package's public API: curated names, importable without DOLFINx."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = r"""
import sys
import fem_twin
assert "dolfinx" not in sys.modules and "petsc4py" not in sys.modules, "import fem_twin imported DOLFINx"
from fem_twin import (Composition, DischargeSettings, ElectrodeDesign, InputError, ParameterSet, Protocol,
                      VoxelImage, analyze, generate)
assert "dolfinx" not in sys.modules, "a non-FEM name imported DOLFINx"
import numpy as np
img = generate(ElectrodeDesign(composition=Composition.parse("70:28:2"), size_x_um=16, size_y_um=16),
               np.random.default_rng(1))
assert isinstance(img, VoxelImage) and img.labels.ndim == 3
assert DischargeSettings().separator.growth == 1.5
assert "dolfinx" not in sys.modules
from fem_twin import build_mesh, discharge, effective_conductivity
from fem_twin.fem.discharge_run import discharge as d2
assert discharge is d2 and callable(build_mesh) and callable(effective_conductivity)
assert "dolfinx" in sys.modules
try:
    fem_twin.no_such_name
except AttributeError:
    pass
else:
    raise AssertionError("unknown names must raise AttributeError")
assert set(fem_twin.__all__) <= set(dir(fem_twin))
print("ok")
"""


def test_import_fem_twin_does_not_import_dolfinx():
    p = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and p.stdout.strip().endswith("ok"), p.stderr[-3000:]


def test_build_mesh_tags_like_the_voxel_mesher():
    import numpy as np

    from fem_twin import build_mesh, phases
    from fem_twin._dolfinx import MPI

    lab = np.full((3, 3, 4), phases.LPSCL, np.uint8)
    lab[1, 1, 1:] = phases.NCM
    tm = build_mesh(lab, 1.0, 2.0, comm=MPI.COMM_SELF)
    cells = tm.cell_tags.values
    # 6 Kuhn tetrahedra per voxel: 36 image voxels + 2 separator layers of 9
    assert cells.size == 6 * (36 + 18)
    assert np.count_nonzero(cells == phases.NCM) == 6 * 3
    assert np.count_nonzero(cells == phases.SEPARATOR) == 6 * 18
