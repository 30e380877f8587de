"""``fem-twin`` command line: argument parsing only; every command calls library functions.

Each module in :mod:`fem_twin.commands` has ``register(subparsers)`` which adds its sub-commands
and sets ``func(args) -> int`` on them. Errors of :class:`~fem_twin.errors.FemTwinError` end with
one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .errors import FemTwinError

#: command modules, in the order their commands are listed in --help
COMMAND_MODULES = ["structure", "mesh", "conductivity", "study", "discharge", "render", "metrics", "p2d", "calibrate"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fem-twin",
        description="Finite-element digital twin of all-solid-state battery composite cathodes.",
    )
    parser.add_argument("--version", action="version", version=f"fem_twin {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(f".commands.{name}", __package__)
        except ModuleNotFoundError as exc:
            if exc.name == f"{__package__}.commands.{name}":
                continue  # command not built yet
            raise
        mod.register(sub)
    return parser


class _ArgumentError(FemTwinError):
    pass


def main(argv: list[str] | None = None) -> int:
    from .log import console

    console()  # the library's progress lines and warnings (logging) on stdout / stderr
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except FemTwinError as exc:
        print(f"fem-twin {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
