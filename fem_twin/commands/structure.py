"""``fem-twin generate``, ``fem-twin import-image`` and ``fem-twin analyze``."""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..errors import InputError


def _floats(text: str, n: int, field: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(v) for v in str(text).split(","))
    except ValueError:
        raise InputError(field, f"{n} comma-separated numbers", text) from None
    if len(vals) != n:
        raise InputError(field, f"{n} comma-separated numbers", text)
    return vals


def register(sub) -> None:
    g = sub.add_parser("generate", help="generate a composite-cathode voxel structure",
                       description="Generate the seed's NCM/LPSCl/NBR composite cathode as a voxel image. "
                                   "Writes DIR/structure.npz, DIR/structure.vti, DIR/design.json.")
    g.add_argument("--composition", default="70:28:2", help="NCM:LPSCl:NBR in wt%% (default 70:28:2)")
    g.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    g.add_argument("--voxel", type=float, default=0.5, help="voxel edge in um (default 0.5)")
    g.add_argument("--size", default="50,50", help="x,y extent in um (default 50,50)")
    g.add_argument("--thickness", type=float, default=None, help="composite thickness in um (default 39)")
    g.add_argument("--density", type=float, default=None,
                   help="electrode density in g/cm3 (overrides --thickness: T = loading / density)")
    g.add_argument("--loading", type=float, default=10.0, help="areal loading in mg/cm2 (default 10)")
    g.add_argument("-o", "--output", required=True, help="output directory")
    g.set_defaults(func=cmd_generate)

    i = sub.add_parser("import-image", help="import a segmented image (npy, raw, tiff)",
                       description="Map a segmented 3D image onto the phases and write DIR/structure.npz etc. "
                                   "Arrays are indexed (x, y, z) with z from the separator to the collector.")
    i.add_argument("file", help="segmented image: .npy, .raw/.bin (with --shape), .tif/.tiff")
    i.add_argument("--labels", required=True, help="phase=value pairs, e.g. ncm=1,lpscl=2,nbr=3,pore=0")
    i.add_argument("--voxel", type=float, default=0.5, help="voxel edge in um (default 0.5)")
    i.add_argument("--shape", default=None, help="NX,NY,NZ of a raw file")
    i.add_argument("--dtype", default="uint8", help="value type of a raw file (default uint8)")
    i.add_argument("--order", default="zyx", choices=["zyx", "xyz"],
                   help="raw layout: zyx = x fastest (default), xyz = z fastest")
    i.add_argument("-o", "--output", required=True, help="output directory")
    i.set_defaults(func=cmd_import)

    a = sub.add_parser("analyze", aliases=["analyse"], help="analyse a structure: fractions, dead particles, contact area",
                       description="Writes DIR/analysis.json and pictures (slices.png, render3d.png).")
    a.add_argument("dir", help="directory holding structure.npz")
    a.add_argument("--no-pictures", action="store_true", help="skip the PNG pictures")
    a.set_defaults(func=cmd_analyze)


def design_from_args(args):
    from ..design import Composition, ElectrodeDesign

    sx, sy = _floats(args.size, 2, "--size")
    kw = dict(composition=Composition.parse(args.composition), voxel_um=args.voxel,
              size_x_um=sx, size_y_um=sy, loading_mg_cm2=args.loading)
    if args.thickness is not None:
        kw["thickness_um"] = args.thickness
    if args.density is not None:
        kw["electrode_density_g_cm3"] = args.density
    return ElectrodeDesign(**kw)


#: peak memory of ``generate``: measured 195 B per voxel above ~150 MB (20 and 40 um squares at 0.5 um)
GENERATE_BYTES_PER_VOXEL = 200
GENERATE_BASE_BYTES = 150 * 2 ** 20


def cmd_generate(args) -> int:
    import dataclasses

    import numpy as np

    from ..microstructure.generate import generate

    from ..outputs import check_memory, output_dir

    if not (0 <= args.seed < 2 ** 63):
        raise InputError("--seed", "an integer in [0, 2**63 - 1]", args.seed)
    out = output_dir(args.output)
    design = design_from_args(args)
    nvox = (design.size_x_um / design.voxel_um) * (design.size_y_um / design.voxel_um) * (
        design.thickness_um / design.voxel_um)
    check_memory("--size/--voxel", GENERATE_BASE_BYTES + GENERATE_BYTES_PER_VOXEL * nvox,
                 f"structure ({nvox:.3g} voxels)")
    t0 = time.perf_counter()
    image = generate(design, np.random.default_rng(args.seed))
    image = dataclasses.replace(image, seed=int(args.seed))
    path = image.save(out)
    frac = np.bincount(image.labels.ravel(), minlength=4) / image.labels.size
    print(f"generated {image.shape} voxels of {design.voxel_um} um in {time.perf_counter() - t0:.1f} s -> {path}")
    print("  volume fraction pore/ncm/lpscl/nbr: " + " ".join(f"{f:.4f}" for f in frac))
    return 0


def cmd_import(args) -> int:
    from ..microstructure.image_io import import_image, parse_label_map

    from ..outputs import output_dir

    out = output_dir(args.output)
    shape = tuple(int(v) for v in _floats(args.shape, 3, "--shape")) if args.shape else None
    if shape is not None and (min(shape) < 1 or any(v != int(v) for v in _floats(args.shape, 3, "--shape"))):
        raise InputError("--shape", "three integers >= 1", args.shape)
    image = import_image(args.file, parse_label_map(args.labels), args.voxel, shape, args.dtype, args.order)
    path = image.save(out)
    print(f"imported {args.file} {image.shape} -> {path}")
    return 0


def cmd_analyze(args) -> int:
    from ..analysis.report import analyse
    from ..microstructure.image import VoxelImage

    d = Path(args.dir)
    image = VoxelImage.load(d)
    t0 = time.perf_counter()
    report = analyse(image)
    report.save(d / "analysis.json")
    print(f"analysed {image.shape} in {time.perf_counter() - t0:.1f} s -> {d / 'analysis.json'}")
    data = report.to_dict()
    print(json.dumps({k: data[k] for k in ("volume_fraction", "dead_fraction", "percolates",
                                           "contact_area_density_per_m") if k in data}, indent=1))
    bands = data.get("through_thickness") or []
    if bands:
        def row(get, fmt):
            return " / ".join("-" if get(b) is None else format(get(b), fmt) for b in bands)

        print("through the thickness, separator / middle / collector third:")
        print(f"  LPSCl volume fraction            {row(lambda b: b['volume_fraction']['lpscl'], '.3f')}")
        print(f"  NCM|LPSCl area / NCM volume, 1/m {row(lambda b: b['contact_area_per_ncm_volume_per_m'], '.3g')}")
        print(f"  NCM distance to contact, um      {row(lambda b: b['ncm_distance_to_contact_um'], '.2f')}")
    reach = data.get("live_contact_reach") or {}
    if reach.get("mean_path_um") is not None:
        far = reach["ncm_beyond_fraction"]
        print(f"path through NCM to a live contact: mean {reach['mean_path_um']:.2f} um; NCM beyond 2 / 4 / 8 um "
              f"{100 * far['2']:.1f} / {100 * far['4']:.1f} / {100 * far['8']:.1f} % "
              f"({100 * reach['ncm_beyond_8um_fraction_if_every_lpscl_were_live']:.1f} % beyond 8 um if every "
              f"LPSCl reached the separator)")
    if not args.no_pictures:
        from ..post.pictures import save_pictures

        for p in save_pictures(image, d):
            print(f"  picture {p}")
    return 0
