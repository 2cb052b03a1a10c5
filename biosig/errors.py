"""Exception hierarchy of the biosig library.

Errors raised at a boundary (a file, a flag, an array handed in by a caller) say what was wrong, what was
expected and what arrived, in the style of MNE's ``_check_option``.
"""

from __future__ import annotations

from os import PathLike


class BiosigError(Exception):
    """Base class of every error raised on purpose by biosig."""


class SignalError(BiosigError, ValueError):
    """An array or signal description that does not fit the signal contract."""


class ReaderError(BiosigError, ValueError):
    """A file that a reader cannot parse.

    The message always names the file, the problem, and what was expected (and, where known, what arrived),
    so that a user looking at a log line can find and fix the file without reading the code.
    """

    def __init__(
        self,
        path: str | PathLike[str],
        problem: str,
        expected: str | None = None,
        got: str | None = None,
    ) -> None:
        self.path = str(path)
        self.problem = problem
        self.expected = expected
        self.got = got
        message = f"{self.path}: {problem}"
        if expected is not None:
            message += f"; expected {expected}"
        if got is not None:
            message += f", got {got}"
        super().__init__(message)


class UnknownFormatError(ReaderError):
    """No registered reader recognises a file."""
