"""``fem-twin render``: pictures of discharge fields (the seed's Figs. 4-6) from the XDMF output."""

from __future__ import annotations

import argparse

from ..errors import InputError
from ..study.cases import parse_c_rates

RENDER_DOC = """Render discharge fields off-screen like the seed's Figs. 4-6 from the XDMF output.

DIR is a discharge output folder (fields_*.xdmf from 'fem-twin discharge' or a study case) or a
'study discharge' folder. Per case and depth of discharge: fields_dod<D>.png (NCM lithiation,
Li+ flux magnitude in the LPSCl, surface overpotential on the NCM|LPSCl interface; --quantities).
A study folder also gets, per C-rate, the compositions side by side:
DIR/fields_c<R>C_seed<S>_dod<D>.png (one colour scale per row; where some of these cases' fields
are gone, their saved fields_dod<D>.png one row per case instead); several case folders get
fields_compare_dod<D>.png. A DOD is a fraction of the discharge's duration; the nearest written
frame is used and its DOD, time, voltage and capacity are printed on the panel."""


def register(sub) -> None:
    """Add the top-level ``render`` command."""
    r = sub.add_parser("render", help="pictures of discharge fields (the seed's Figs. 4-6)",
                       description=RENDER_DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("dirs", nargs="+", metavar="DIR", help="discharge output folder(s) or a study folder")
    r.add_argument("--dod", default="0.5,end",
                   help="depths of discharge: fractions of the discharge's duration or 'end' (default 0.5,end)")
    r.add_argument("--quantities", default=None,
                   help="comma-separated from lithiation,c_s,phi_s,flux,i_e,phi_e,c_e,eta,j "
                        "(default lithiation,flux,eta)")
    r.add_argument("--c-rates", default=None, help="study folder: only these C-rates (default all)")
    r.add_argument("--seed", type=int, default=None, help="study folder: this seed (default the smallest with fields)")
    r.add_argument("--no-cut", action="store_true", help="do not cut away the front corner")
    r.add_argument("--panel-px", default=None, metavar="W,H",
                   help="size of one panel in pixels (default 620,560; 560,520 side by side)")
    r.add_argument("-o", "--output", default=None, help="output folder (default: each case's folder / the study)")
    r.set_defaults(func=cmd_render)


def cmd_render(args) -> int:
    from ..post.field_pictures import parse_dods, parse_quantities, render_dirs

    dods = parse_dods(args.dod)
    quantities = parse_quantities(args.quantities)
    rates = parse_c_rates(args.c_rates) if args.c_rates else None
    px = None
    if args.panel_px:
        try:
            px = tuple(int(v) for v in args.panel_px.split(","))
        except ValueError:
            px = ()
        if len(px) != 2 or min(px) < 100:
            raise InputError("--panel-px", "W,H in pixels, each >= 100, e.g. 620,560", args.panel_px)
    for p in render_dirs(args.dirs, dods, quantities, args.output, rates, args.seed, cut=not args.no_cut,
                         panel_px=px):
        print(f"picture {p}", flush=True)
    return 0
