"""Exceptions raised on bad input. The CLI turns each into one line and a non-zero exit."""

from __future__ import annotations


class FemTwinError(Exception):
    """Base class of every error fem_twin raises on purpose."""


class InputError(FemTwinError, ValueError):
    """A value given by the user is not acceptable.

    ``field`` names the input (a CLI option, a design field or a file), ``expected`` says what was
    expected, ``got`` what was given.
    """

    def __init__(self, field: str, expected: str, got: object | None = None):
        self.field = field
        self.expected = expected
        self.got = got
        msg = f"{field}: expected {expected}"
        if got is not None:
            msg += f", got {got!r}"
        super().__init__(msg)


class FileFormatError(FemTwinError, ValueError):
    """A file could not be read as the format it claims to be."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        super().__init__(f"{path}: {problem}")
