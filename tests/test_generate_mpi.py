"""Generation and analysis give the same result on every rank (run also under mpirun -n 2)."""

import hashlib

import numpy as np
import pytest

from fem_twin.analysis.report import analyse
from fem_twin.design import ElectrodeDesign


@pytest.mark.mpi
def test_same_structure_and_report_on_every_rank():
    from fem_twin._dolfinx import MPI
    from fem_twin.microstructure.generate import generate

    comm = MPI.COMM_WORLD
    img = generate(ElectrodeDesign(size_x_um=20, size_y_um=20, thickness_um=20, loading_mg_cm2=5.0), np.random.default_rng(11))
    digest = hashlib.sha256(img.labels.tobytes()).hexdigest()
    digests = comm.allgather(digest)
    assert len(set(digests)) == 1
    rep = analyse(img).to_dict()
    c = rep["contact_area_density_per_m"]["raw"]["ncm|lpscl"]
    values = comm.allgather(c)
    assert max(values) == min(values) and c > 0
