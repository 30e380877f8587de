# # Digital-twin cell: galvanostatic discharge of a composite cathode
#
# The seed's Experimental section "Predicting Electrochemical Performance and Behavior using the
# Digital Twin-Driven Model" on a reduced electrode: a `--size` x `--size` um piece (default 16)
# of the 70 wt% NCM structure (39 um thick, 0.5 um voxels), a thin LPSCl separator
# (`--separator`, default 5 um instead of the cell's 30 um) and a Li metal counter electrode,
# discharged at `--c-rate` (default 1C) to 3.0 V at 30 degC.
#
# Run: `mpirun -n 2 python demos/discharge.py [--size 16] [--c-rate 1] [--output out/discharge_demo]`
# (a checkpoint every `--checkpoint-every` steps and on SIGTERM; `--restart` continues a killed run)
#
# Writes to the output folder: `structure.npz`, `discharge.csv`, `discharge.json`,
# `discharge.png` and XDMF fields (`fields_*.xdmf`, open in ParaView).

# +
import argparse
import sys
import time
from pathlib import Path

import numpy as np

from fem_twin._dolfinx import MPI
from fem_twin.design import Composition, ElectrodeDesign
from fem_twin.fem import settings as S
from fem_twin.fem.discharge_run import discharge
from fem_twin.log import console
from fem_twin.meshing.meshers import DEFAULT_MESHER, MESHERS
from fem_twin.microstructure.generate import generate

# -

# ## The electrode
#
# Generated like `fem-twin generate --size 16,16` (the particle-size distributions are truncated at
# 16 um, so 16 um is the smallest piece that holds the largest particles). The default size is the
# smallest useful one: 16 x 16 um with a 5 um separator is ~2.1e5 unknowns, ~1.5 s per Newton step on
# 2 ranks; the 1C discharge to 3.0 V takes ~27 time steps, ~125 Newton steps and ~3 min on 2 cores
# (20 x 20 um: 3.3e5 unknowns). NCM clusters without a
# path to the collector and LPSCl clusters without a path to the separator carry no net current;
# they are removed (made inert) before meshing and their volume is reported.

# +
parser = argparse.ArgumentParser(description="Discharge of a reduced digital-twin electrode")
parser.add_argument("--size", type=float, default=16.0, help="x and y extent in um (>= 16)")
parser.add_argument("--c-rate", type=float, default=1.0)
parser.add_argument("--cutoff", type=float, default=3.0)
parser.add_argument("--separator", type=float, default=5.0, help="separator thickness in um")
parser.add_argument("--separator-growth", type=float, default=S.SEPARATOR_GROWTH,
                    help="separator layers grow by this factor away from the composite "
                         f"(default {S.SEPARATOR_GROWTH:g}; 1: voxels)")
parser.add_argument("--mesher", default=DEFAULT_MESHER, choices=MESHERS,
                    help="voxel (6 tetrahedra per voxel) or smooth (smoothed interfaces, gmsh)")
parser.add_argument("--transport", default=S.DEFAULT_TRANSPORT, choices=S.TRANSPORTS,
                    help="fv-matched (P1 with each phase's through-plane conductance matched to voxel finite "
                         "volumes; fem_twin/fem/transport_matching.py) or p1 (plain)")
parser.add_argument("--composition", default="70:28:2")
parser.add_argument("--seed", type=int, default=2,
                    help="seed of the structure (default 2: the first 16 um piece whose NCM reaches the collector "
                         "through face contacts, so its capacity converges under mesh refinement; docs/fidelity.md)")
parser.add_argument("--solver", default="auto", choices=["auto", "mumps", "fieldsplit"],
                    help="linear solver (auto: fieldsplit above 30k unknowns)")
parser.add_argument("--output", default="out/discharge_demo")
parser.add_argument("--no-fields", action="store_true", help="skip the XDMF fields")
parser.add_argument("--dt-max", type=float, default=S.DT_MAX_H,
                    help=f"largest time step as a fraction of an hour at the C-rate (default {S.DT_MAX_H:g})")
parser.add_argument("--checkpoint-every", type=int, default=S.CHECKPOINT_EVERY,
                    help=f"OUTPUT/checkpoint.npz every N accepted steps (default {S.CHECKPOINT_EVERY}; "
                         "0: only on SIGTERM)")
parser.add_argument("--restart", action="store_true",
                    help="continue a killed run from OUTPUT/checkpoint.npz (same arguments otherwise)")
args = parser.parse_args()
console()  # progress lines of the run
comm = MPI.COMM_WORLD
out = Path(args.output)

design = ElectrodeDesign(composition=Composition.parse(args.composition), size_x_um=args.size,
                         size_y_um=args.size)
image = generate(design, np.random.default_rng(args.seed)) if comm.rank == 0 else None
image = comm.bcast(image, root=0)
if comm.rank == 0:
    image.save(out)
# -

# ## The model (see `fem_twin/fem/discharge.py`)
#
# NCM: $\partial_t c_s = \nabla\cdot(D_s\nabla c_s)$, $\nabla\cdot(\sigma_s\nabla\phi_s) = 0$.
# LPSCl: $\nabla\cdot i_e = 0$ with $i_e = -\kappa\nabla\phi_e + \kappa\frac{2RT}{F}(1-t_+)\nabla\ln c_e$,
# $\partial_t c_e = \nabla\cdot(D_e\nabla c_e)$ with the interface source $(1-t_+)j/F$.
# NCM|LPSCl interface: $j = 2k\sqrt{c_s c_e (c_{max}-c_s)}\,\sinh\!\big(\frac{F\eta}{2RT}\big)$,
# $\eta = \phi_s-\phi_e-U(c_s/c_{max})$ ($j>0$ anodic; $-j/F$ is the lithium flux into NCM).
# Li|LPSCl: Butler-Volmer stripping, $\phi_{Li} = 0$. Collector: $\phi_s = V(t)$ with $V$ a global
# unknown fixed by $\int_\Gamma j\,dS = -I$ (galvanostatic). Backward Euler with adaptive steps;
# Newton (PETSc SNES, line search) on the fields plus $V$, the bordered linear system solved by
# block elimination around MUMPS or a fieldsplit-GAMG Krylov solver.

# +
# The run's settings (fem_twin/fem/settings.py; also written to OUTPUT/settings.json, which
# `fem-twin discharge OUTPUT --settings OUTPUT/settings.json` runs again). Time steps: the defaults,
# 1/100 h first, growing by 1.6x after easy steps up to --dt-max (1/20 h), shorter where the voltage
# moves by more than 0.1 V per step and near the cut-off. (With 1/10 h, 5 of 33 steps were rejected
# and 50 of 141 Newton steps wasted; with 1/20 h, 1 rejected, and the capacity moves by 0.05 %.)
settings = S.DischargeSettings(
    protocol=S.default_protocol_text(args.c_rate, args.cutoff), mesher=args.mesher, transport=args.transport,
    separator=S.SeparatorSettings(thickness_um=args.separator, growth=args.separator_growth),
    stepping=S.SteppingOptions(dt_max_h=args.dt_max), solver=S.SolverSettings(args.solver),
    outputs=S.OutputSettings(fields=not args.no_fields),
    checkpoints=S.CheckpointSettings(every=args.checkpoint_every))
if comm.rank == 0:
    settings.save(out / "settings.json")
t0 = time.perf_counter()
result = discharge(image.labels, image.voxel_size_um, out, settings, comm=comm, restart=args.restart)
# -

# ## Results
#
# `discharge.csv` holds the voltage curve; the capacity is per gram of NCM in the electrode
# (1C = NCM mass x 180 mAh/g, see `fem_twin/parameters/cell.py`).

# +
if comm.rank == 0:
    s = result.summary
    print(f"complete: {result.complete} ({result.message})")
    if s["capacity_mAh_per_g"] is None:  # interrupted (SIGTERM) or failed in the first step
        again = "; continue with --restart" if s.get("interrupted_at_time_s") is not None else ""
        print(f"no finished step yet; files in {out}{again}")
        sys.exit(1)
    print(f"capacity {s['capacity_mAh_per_g']:.1f} mAh/g, {s['capacity_mAh_per_cm2']:.4f} mAh/cm2; "
          f"{s['mesh']['unknowns']} unknowns; wall time {time.perf_counter() - t0:.1f} s on {comm.size} rank(s)")
    print(f"files in {out}: discharge.csv, discharge.json, discharge.png, fields_*.xdmf")
# -

# exit code 1 when the run stopped early (the files hold what was computed)
sys.exit(0 if result.complete else 1)
