"""``fem-twin study KIND``: parameter studies over compositions and random seeds.

``study conductivity`` reproduces the seed's Fig. 2a,b: for every NCM wt% (NBR 2 wt%, LPSCl the
rest) and seed it generates the structure into ``DIR/ncm<W>_seed<S>/`` (kept when
``structure.npz`` exists), solves the electronic (NCM) and ionic (LPSCl) effective conductivity
along z with ``--method`` (fv: voxel finite volumes, default; p1: P1 on the Kuhn mesh; see
``fem-twin conductivity -h``; kept when ``conductivity_<phase>.json`` exists with the same
settings) and writes
``DIR/conductivity_study.csv`` (one row per case and phase, with the phase's geometric descriptors
``tau_geo``, ``beta``, ``r_min_um``, ``r_max_um``, ``ssa_per_m`` next to sigma_eff, from the case's
``analysis.json``, written when it has none; see :mod:`fem_twin.analysis.descriptors`),
``DIR/conductivity_summary.csv``
(mean / min / max over the seeds) and ``DIR/conductivity_study.png`` (sigma_eff against NCM wt%,
seed-to-seed band, log scale). The phase meshes are built in memory from the image (fv: one
hexahedron per voxel; p1: the same tetrahedra as the submeshes of ``fem-twin mesh``);
``--mesh-files`` also writes the full tagged mesh of each case (about 0.8 GB per seed-size case,
for the discharge model; the study does not need it).

Other study kinds (``study discharge``) are separate functions registered next to it.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import FemTwinError, InputError
from ..study.cases import NCM_WT_RANGE, ensure_structure, parse_compositions, parse_seeds, structure_dir
from ..study.tables import write_csv_raw
from .conductivity import DEFAULT_METHOD

STUDY_CSV = "conductivity_study.csv"
SUMMARY_CSV = "conductivity_summary.csv"
STUDY_PNG = "conductivity_study.png"
PHASE_TITLES = {"ncm": "electronic (NCM)", "lpscl": "ionic (LPSCl)"}


def register(sub) -> None:
    s = sub.add_parser("study", help="parameter studies over compositions and seeds",
                       description="Run a parameter study; see 'fem-twin study conductivity -h'.")
    kinds = s.add_subparsers(dest="study_kind", metavar="KIND")
    register_conductivity(kinds)
    from .study_discharge import register_study_discharge

    register_study_discharge(kinds)
    from .study_sweep import register_study_sweep

    register_study_sweep(kinds)
    from .study_size import register_study_size

    register_study_size(kinds)
    from .study_statements import register_study_statements

    register_study_statements(kinds)
    s.set_defaults(func=lambda args: (s.print_help(), 2)[1])


# -- study conductivity ------------------------------------------------------------------------
def register_conductivity(kinds) -> None:
    c = kinds.add_parser(
        "conductivity", help="effective conductivities against NCM wt%% (the seed's Fig. 2a,b)",
        description=__doc__.split("\n\n")[1])
    c.add_argument("--compositions", default="60,70,80,90",
                   help=f"NCM wt%% list in [{NCM_WT_RANGE[0]:g}, {NCM_WT_RANGE[1]:g}] (default 60,70,80,90)")
    c.add_argument("--seeds", default="1-5", help="seeds: a range 1-5 or a list 1,2,3 (default 1-5)")
    c.add_argument("--size", default="50,50", help="x,y extent of each structure in um (default 50,50)")
    c.add_argument("--voxel", type=float, default=0.5, help="voxel edge in um (default 0.5)")
    c.add_argument("--method", default=DEFAULT_METHOD,
                   help="fv (voxel finite volumes, default) or p1 (P1 on the Kuhn tetrahedral mesh)")
    c.add_argument("--solver", default="gamg", help="gamg (default) or mumps")
    c.add_argument("--rtol", type=float, default=1e-8, help="CG relative tolerance (default 1e-8)")
    c.add_argument("--mesh-files", action="store_true", help="also write each case's tagged mesh files")
    c.add_argument("--fields", action="store_true", help="also write the XDMF fields of each solve")
    c.add_argument("-o", "--output", required=True, help="study directory")
    c.set_defaults(func=cmd_study_conductivity)


def structure_on_all_ranks(root: Path, ncm_wt: float, seed: int, size: tuple[float, float], voxel_um: float,
                           comm):
    """:func:`fem_twin.study.cases.ensure_structure` on rank 0 (an error stops every rank with the
    same message); the folder and its image on every rank."""
    from ..microstructure.image import VoxelImage

    err = None
    if comm.rank == 0:
        try:
            ensure_structure(root, ncm_wt, seed, size, voxel_um)
        except FemTwinError as exc:
            err = exc
    msg = comm.bcast(None if err is None else str(err), root=0)
    if err is not None:
        raise err
    if msg is not None:  # the other ranks stop with the same message
        raise FemTwinError(msg)
    d = structure_dir(root, ncm_wt, seed)
    return d, VoxelImage.load(d)


def _reusable(path: Path, settings: dict) -> dict | None:
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if all(data.get(k) == v for k, v in settings.items()) else None


def case_descriptors(d: Path, image, comm) -> dict:
    """The descriptors of ``d/analysis.json`` (``analyse`` and write it on rank 0 when missing or
    without descriptors), on every rank."""
    desc = None
    if comm.rank == 0:
        from ..analysis.report import StructureReport, analyse

        try:
            desc = StructureReport.load(d).descriptors
        except FemTwinError:
            desc = None
        if not desc:
            report = analyse(image)
            report.save(d)
            desc = report.descriptors
    return comm.bcast(desc, root=0)


def cmd_study_conductivity(args) -> int:
    from .._dolfinx import MPI
    from ..fem.conductivity import check_method
    from .conductivity import output_stem, run_conductivity

    comm = MPI.COMM_WORLD
    method = check_method(args.method)
    comps = parse_compositions(args.compositions)
    seeds = parse_seeds(args.seeds)
    try:
        size = tuple(float(v) for v in str(args.size).split(","))
    except ValueError:
        size = ()
    if len(size) != 2 or min(size) <= 0:
        raise InputError("--size", "x,y extent in um, e.g. 50,50", args.size)
    from ..outputs import output_dir

    root = output_dir(args.output)
    rows = []
    for w in comps:
        for s in seeds:
            d, image = structure_on_all_ranks(root, w, s, size, args.voxel, comm)
            desc = case_descriptors(d, image, comm)
            if args.mesh_files and not (d / "mesh.xdmf").exists():
                from ..meshing.io import write_tagged_mesh
                from ..meshing.voxel_mesh import build_tagged_mesh

                write_tagged_mesh(build_tagged_mesh(image.labels, image.voxel_size_um, 0.0, comm), d)
            for phase in ("ncm", "lpscl"):
                settings = {"solver": args.solver, "axis": "z", "method": method,
                            "connectivity": 6 if method == "fv" else 26}
                data = None
                if comm.rank == 0:
                    data = _reusable(d / f"{output_stem(phase, 'z')}.json", settings)
                data = comm.bcast(data, root=0)
                reused = data is not None
                if not reused:
                    data = run_conductivity(d, phase, "z", None, args.solver, args.rtol,
                                            fields=args.fields, comm=comm, method=method).to_dict()
                rows.append({"ncm_wt": w, "seed": s, **{k: data[k] for k in CSV_FIELDS[2:]},
                             **{k: desc.get(phase, {}).get(k) for k in DESCRIPTOR_FIELDS}})
                if comm.rank == 0:
                    v = data["sigma_eff_S_per_m"]
                    print(f"ncm {w:g} wt% seed {s} {phase:5s} ({method}): sigma_eff = {v:.4g} S/m"
                          + (" (no path)" if not data["percolates"] else "")
                          + (" [reused]" if reused else f" [{data['wall_time_s']:.1f} s]"), flush=True)
    if comm.rank == 0:
        write_study_csv(root / STUDY_CSV, rows)
        summary = summarise(rows)
        write_summary_csv(root / SUMMARY_CSV, summary)
        plot_study(root / STUDY_PNG, summary, rows)
        print(f"-> {root / STUDY_CSV}, {root / SUMMARY_CSV}, {root / STUDY_PNG}")
    return 0


CSV_FIELDS = ["ncm_wt", "seed", "phase", "method", "percolates", "sigma_intrinsic_S_per_m", "sigma_eff_S_per_m",
              "volume_fraction", "active_volume_fraction", "tortuosity_factor", "ksp_iterations",
              "num_dofs", "wall_time_s"]
#: columns from analysis.json's descriptors of the row's phase (empty when undefined)
DESCRIPTOR_FIELDS = ["tau_geo", "beta", "r_min_um", "r_max_um", "ssa_per_m"]


def write_study_csv(path: Path, rows: list[dict]) -> None:
    """conductivity_study.csv: :data:`CSV_FIELDS` + :data:`DESCRIPTOR_FIELDS`, one row per case and phase."""
    write_csv_raw(path, rows, CSV_FIELDS + DESCRIPTOR_FIELDS)


def summarise(rows: list[dict]) -> list[dict]:
    """Per (phase, NCM wt%): the number of seeds and of percolating seeds, the mean of sigma_eff
    over all seeds (non-percolating ones count as 0) and mean / min / max over the percolating
    seeds (0 when none percolates). sigma in S/m."""
    out = []
    for phase, w in sorted({(r["phase"], r["ncm_wt"]) for r in rows}):
        vals = [r["sigma_eff_S_per_m"] for r in rows if r["phase"] == phase and r["ncm_wt"] == w]
        perc = [r["sigma_eff_S_per_m"] for r in rows if r["phase"] == phase and r["ncm_wt"] == w
                and r["percolates"]]
        out.append({"phase": phase, "ncm_wt": w, "n_seeds": len(vals), "n_percolating": len(perc),
                    "sigma_eff_mean_all_S_per_m": sum(vals) / len(vals),
                    "sigma_eff_mean_S_per_m": sum(perc) / len(perc) if perc else 0.0,
                    "sigma_eff_min_S_per_m": min(perc) if perc else 0.0,
                    "sigma_eff_max_S_per_m": max(perc) if perc else 0.0})
    return out


def write_summary_csv(path: Path, summary: list[dict]) -> None:
    """conductivity_summary.csv: the columns of :func:`summarise`, one row per phase and composition."""
    write_csv_raw(path, summary, list(summary[0]))


def plot_study(path: Path, summary: list[dict], rows: list[dict]) -> None:
    """Two panels (electronic, ionic): sigma_eff in S/cm against NCM wt%: every seed as a dot,
    the mean and the min-max band over the percolating seeds (log scale); the number of
    percolating seeds is written where some seed has no path, and compositions where none
    percolates are marked with a cross at the bottom."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), constrained_layout=True)
    methods = sorted({str(r.get("method", "p1")) for r in rows})
    fig.suptitle(f"effective conductivity along z ({', '.join(methods)})", fontsize=10)
    for ax, phase, tag, color in zip(axes, ("ncm", "lpscl"), "ab", ("C0", "C3")):
        srt = [s for s in summary if s["phase"] == phase and s["n_percolating"] > 0]
        pos = [r for r in rows if r["phase"] == phase and r["percolates"] and r["sigma_eff_S_per_m"] > 0]
        if pos:
            ax.scatter([r["ncm_wt"] for r in pos], [r["sigma_eff_S_per_m"] / 100.0 for r in pos],
                       s=12, color="k", alpha=0.6, label="seeds", zorder=3)
            ax.fill_between([s["ncm_wt"] for s in srt], [s["sigma_eff_min_S_per_m"] / 100 for s in srt],
                            [s["sigma_eff_max_S_per_m"] / 100 for s in srt], color=color, alpha=0.3,
                            label="seed-to-seed range")
            ax.plot([s["ncm_wt"] for s in srt], [s["sigma_eff_mean_S_per_m"] / 100 for s in srt], "-o",
                    color=color, label="mean of percolating seeds")
            ax.set_yscale("log")
            for s in srt:
                if s["n_percolating"] < s["n_seeds"]:
                    ax.annotate(f"{s['n_percolating']}/{s['n_seeds']} percolate",
                                (s["ncm_wt"], s["sigma_eff_min_S_per_m"] / 100), textcoords="offset points",
                                xytext=(4, -12), fontsize=8)
            none = [s for s in summary if s["phase"] == phase and s["n_percolating"] == 0]
            if none:
                bottom = min(r["sigma_eff_S_per_m"] for r in pos) / 300.0
                ax.scatter([s["ncm_wt"] for s in none], [bottom] * len(none), marker="x", color="k",
                           label="no percolating path", zorder=3)
        else:
            ax.text(0.5, 0.5, "no percolating case", transform=ax.transAxes, ha="center")
        ax.set_xlabel("NCM content (wt%)")
        ax.set_ylabel(f"effective {'electronic' if phase == 'ncm' else 'ionic'} conductivity (S/cm)")
        ax.set_title(f"({tag}) {PHASE_TITLES[phase]}")
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.savefig(path, dpi=150)
    plt.close(fig)
