"""Shared helpers of the delimited-text readers (Myo ``.txt[.gz]``, NeuroKit ``.csv``).

Both readers share one policy for malformed rows, so users learn it once:

* ``on_bad_row="skip"`` (default): every well-formed row is kept; each malformed row is dropped and
  *reported*: ``metadata["skipped"] = {reason: count}``, ``metadata["skipped_examples"] = {reason: first
  1-based line number}``, ``metadata["skipped_lines"] = [(line, reason), ...]`` and
  ``metadata["gaps"] = [(sample_index, n_rows_dropped), ...]``.
* ``on_bad_row="raise"``: the first malformed row raises :class:`~biosig.errors.ReaderError` naming the file,
  the line number, the reason and the line's text.

A dropped row is a real hole in time (these files carry no timestamps), and a ``valid`` mask cannot mark a
sample that no longer exists. ``gaps`` therefore records, for each run of consecutive dropped rows, the index
of the first kept sample *after* the hole (``n_times`` when the hole is at the end) and the number of lines
dropped. The true number of lost samples is unknown: a line holding two glued rows stands for two samples.
Blank lines are reported under ``"empty line"`` but open no gap: they carry no sample.

Line numbers are those of ``sed -n Np``: lines end at ``\\n``; a ``\\r`` right before it (CRLF files) is part
of the line ending, a ``\\r`` anywhere else is content (and makes the row malformed).

:func:`parse_int_table` is vectorised with numpy (no Python loop per line) because the Myo dataset has about
8.4 million rows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike
from typing import Literal

import numpy as np

from biosig.errors import ReaderError

BadRowPolicy = Literal["skip", "raise"]
BAD_ROW_POLICIES: tuple[str, ...] = ("skip", "raise")

# Reasons, in the order they are tested (a row gets the first that applies).
EMPTY_LINE = "empty line"
WRONG_FIELD_COUNT = "wrong field count"
NON_NUMERIC = "non-numeric"
NON_FINITE = "non-finite value"

_COMMA, _NEWLINE, _MINUS, _ZERO, _NINE = ord(","), ord("\n"), ord("-"), ord("0"), ord("9")
# Whitespace around separators (", " separators, trailing blanks); whitespace *inside* a number is left alone
# so that "1 2" is reported as malformed instead of silently becoming 12.
_SPACE_AROUND_SEPARATOR = re.compile(rb"[ \t]*([,\n])[ \t]*")
#: At most this many skipped lines are listed one by one in ``metadata["skipped_lines"]`` (counts are exact).
MAX_LISTED_LINES = 1000
_MAX_DIGITS = 15  # float64 weights stay exact below 2**53; longer tokens are flagged as overflowing


def check_policy(on_bad_row: str) -> None:
    """Raise ``ValueError`` unless ``on_bad_row`` is a known policy."""
    if on_bad_row not in BAD_ROW_POLICIES:
        raise ValueError(f"on_bad_row must be one of {BAD_ROW_POLICIES}, got {on_bad_row!r}")


def normalise_text(raw: bytes) -> bytes:
    """CRLF -> LF, strip blanks around separators, and end with exactly one trailing ``\\n``.

    Line count and numbering are preserved (only ``\\r`` before ``\\n`` and blanks are removed).
    """
    text = raw.replace(b"\r\n", b"\n")
    if text.endswith(b"\r"):
        text = text[:-1]
    if b" " in text or b"\t" in text:
        text = _SPACE_AROUND_SEPARATOR.sub(rb"\1", text).strip(b" \t")
    if not text.endswith(b"\n"):
        text += b"\n"
    return text


@dataclass
class RowReport:
    """Malformed rows of one file: why each was skipped, and where the holes in the sample axis are."""

    line_numbers: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # 1-based, sorted
    reasons: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.reasons)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for reason in self.reasons:
            out[reason] = out.get(reason, 0) + 1
        return out

    def first_examples(self) -> dict[str, int]:
        """First line number of each reason."""
        out: dict[str, int] = {}
        for line, reason in zip(self.line_numbers.tolist(), self.reasons):
            out.setdefault(reason, int(line))
        return out

    def gaps(self, kept_line_numbers: np.ndarray) -> list[tuple[int, int]]:
        """``(sample_index, n_rows_dropped)`` per run of consecutive dropped non-blank lines.

        ``sample_index`` is the index (in the kept samples) of the first sample after the hole.
        """
        dropped = np.asarray([ln for ln, r in zip(self.line_numbers.tolist(), self.reasons) if r != EMPTY_LINE])
        if dropped.size == 0:
            return []
        # Consecutive dropped lines form one hole.
        starts = np.flatnonzero(np.diff(dropped, prepend=dropped[0] - 2) != 1)
        lengths = np.diff(np.append(starts, dropped.size))
        sample_index = np.searchsorted(kept_line_numbers, dropped[starts])
        # Runs separated only by blank lines share a sample index: one hole.
        merged: dict[int, int] = {}
        for index, n in zip(sample_index.tolist(), lengths.tolist()):
            merged[index] = merged.get(index, 0) + n
        return list(merged.items())

    def metadata(self, kept_line_numbers: np.ndarray) -> dict[str, object]:
        """The ``skipped`` / ``skipped_examples`` / ``skipped_lines`` / ``gaps`` entries for ``Recording.metadata``.

        ``skipped_lines`` lists ``(line, reason)`` of the first :data:`MAX_LISTED_LINES` skipped lines.
        """
        listed = zip(self.line_numbers[:MAX_LISTED_LINES].tolist(), self.reasons[:MAX_LISTED_LINES])
        return {
            "skipped": self.counts(),
            "skipped_examples": self.first_examples(),
            "skipped_lines": [(int(line), reason) for line, reason in listed],
            "gaps": self.gaps(kept_line_numbers),
        }


def merge_reports(a: RowReport, b: RowReport) -> RowReport:
    """Both reports' rows, sorted by line number."""
    lines = np.concatenate([a.line_numbers, b.line_numbers])
    reasons = a.reasons + b.reasons
    order = np.argsort(lines, kind="stable")
    return RowReport(lines[order], [reasons[i] for i in order])


def raise_for_first(
    path: str | PathLike[str], report: RowReport, lines: Sequence[bytes] | None, text: bytes, expected: str
) -> None:
    """Raise the ReaderError of the first malformed row (``on_bad_row="raise"``)."""
    if not len(report):
        return
    line = int(report.line_numbers[0])
    content = line_text(text, line) if lines is None else lines[line - 1]
    raise ReaderError(
        path, f"line {line}: {report.reasons[0]}", expected=expected, got=repr(content[:120].decode("latin-1"))
    )


def line_text(text: bytes, line: int) -> bytes:
    """Text of 1-based ``line`` of normalised ``text``."""
    start = 0
    for _ in range(line - 1):
        start = text.index(b"\n", start) + 1
    return text[start : text.index(b"\n", start)]


@dataclass
class IntTable:
    """Rows of a comma-separated integer file that have the right shape.

    ``values`` is ``(n_rows, n_fields)`` int64, ``line_numbers`` the 1-based line of each row, ``report``
    the lines that were not rows (empty, wrong field count, non-numeric).
    """

    values: np.ndarray
    line_numbers: np.ndarray
    report: RowReport
    n_lines: int


def parse_int_table(text: bytes, n_fields: int) -> IntTable:
    """Parse normalised text (see :func:`normalise_text`) of ``n_fields`` comma-separated integers per line.

    Two vectorised paths with the same result. The fast one checks the file's shape in a few passes over the
    bytes (only ``0-9 - , \\n`` present, every ``n_fields``-th separator a newline, tokens of 1..15 bytes, a
    ``-`` only in front of a digit at a token's start) and then lets ``np.fromstring`` decode all numbers at
    once; any surprise falls back to :func:`_tokenize_int_table`, which classifies every line.
    """
    buf = np.frombuffer(text, dtype=np.uint8)
    if buf.size == 0 or buf[-1] != _NEWLINE:
        raise ValueError("text must be normalised (end with a newline)")
    fast = _fast_int_table(text, buf, n_fields)
    return fast if fast is not None else _tokenize_int_table(buf, n_fields)


_ALLOWED_INT_BYTES = b"0123456789-,\n"


def _fast_int_table(text: bytes, buf: np.ndarray, n_fields: int) -> IntTable | None:
    """All-rows-valid fast path of :func:`parse_int_table`; None when the file needs the exact tokenizer."""
    if text.translate(None, _ALLOWED_INT_BYTES):  # any byte left over is not part of an integer table
        return None
    sep_pos = np.flatnonzero((buf == _COMMA) | (buf == _NEWLINE))
    n_lines = text.count(b"\n")
    # Every line has n_fields tokens <=> there are n_fields separators per line and the n_fields-th of each
    # group is a newline.
    if sep_pos.size != n_lines * n_fields or not (buf[sep_pos[n_fields - 1 :: n_fields]] == _NEWLINE).all():
        return None
    tok_len = np.diff(sep_pos, prepend=-1) - 1
    if tok_len.min() < 1 or tok_len.max() > _MAX_DIGITS:
        return None
    # A minus only opens a token and is followed by a digit; with that, every token is a well-formed integer.
    minus = np.flatnonzero(buf == _MINUS)
    after = buf[minus + 1]  # in bounds: the text ends with "\n"
    before = buf[minus[minus > 0] - 1]
    if ((after < _ZERO) | (after > _NINE)).any() or ((before != _COMMA) & (before != _NEWLINE)).any():
        return None
    # np.fromstring is lenient on malformed text (it reads a lone "-" as 0), hence the checks above.
    values = np.fromstring(text.replace(b"\n", b","), dtype=np.int64, sep=",")
    if values.size != sep_pos.size:  # cannot happen after the checks above; stay safe anyway
        return None
    return IntTable(
        values=values.reshape(n_lines, n_fields),
        line_numbers=np.arange(1, n_lines + 1),
        report=RowReport(),
        n_lines=n_lines,
    )


def _tokenize_int_table(buf: np.ndarray, n_fields: int) -> IntTable:
    """Exact vectorised tokenizer of :func:`parse_int_table`, naming every malformed line.

    Separators (``,`` and ``\\n``) split the byte buffer into tokens; a token is an integer when it is an
    optional leading ``-`` followed by 1..15 ASCII digits. Values are accumulated per token with
    ``np.bincount`` over digit positions.
    """
    is_sep = (buf == _COMMA) | (buf == _NEWLINE)
    sep_pos = np.flatnonzero(is_sep)  # every token ends at one separator
    n_tokens = sep_pos.size
    tok_start = np.empty(n_tokens, dtype=np.int64)
    tok_start[0] = 0
    tok_start[1:] = sep_pos[:-1] + 1
    tok_len = sep_pos - tok_start
    # Token of each byte (separators belong to the token they close).
    tok_of_byte = np.cumsum(is_sep) - is_sep

    is_digit = (buf >= _ZERO) & (buf <= _NINE)
    leading_minus = np.zeros(buf.size, dtype=bool)
    starts_nonempty = tok_start[tok_len > 0]
    leading_minus[starts_nonempty] = buf[starts_nonempty] == _MINUS
    bad_byte = ~(is_digit | is_sep | leading_minus)
    n_digits = np.bincount(tok_of_byte[is_digit], minlength=n_tokens)
    tok_bad = (np.bincount(tok_of_byte[bad_byte], minlength=n_tokens) > 0) | (n_digits == 0)
    tok_bad |= n_digits > _MAX_DIGITS

    # Value: sum of digit * 10**(distance to token end); digits are always the token's tail.
    digit_pos = np.flatnonzero(is_digit)
    digit_tok = tok_of_byte[digit_pos]
    power = np.minimum(sep_pos[digit_tok] - digit_pos - 1, _MAX_DIGITS)
    weights = (buf[digit_pos] - _ZERO).astype(np.float64) * np.power(10.0, power)
    magnitude = np.bincount(digit_tok, weights=weights, minlength=n_tokens)
    sign = np.where(leading_minus[tok_start], -1.0, 1.0)
    values = (sign * magnitude).astype(np.int64)

    # Lines: a newline separator closes a line.
    is_nl_tok = buf[sep_pos] == _NEWLINE
    line_of_tok = np.cumsum(is_nl_tok) - is_nl_tok
    n_lines = int(is_nl_tok.sum())
    n_fields_per_line = np.bincount(line_of_tok, minlength=n_lines)
    line_bad_tok = np.bincount(line_of_tok[tok_bad], minlength=n_lines) > 0
    line_empty = (n_fields_per_line == 1) & (np.bincount(line_of_tok, weights=tok_len, minlength=n_lines) == 0)

    reason_code = np.zeros(n_lines, dtype=np.int8)  # 0 ok, 1 empty, 2 field count, 3 non-numeric
    reason_code[line_bad_tok] = 3
    reason_code[n_fields_per_line != n_fields] = 2
    reason_code[line_empty] = 1
    names = {1: EMPTY_LINE, 2: WRONG_FIELD_COUNT, 3: NON_NUMERIC}
    bad_lines = np.flatnonzero(reason_code)
    report = RowReport(bad_lines + 1, [names[int(c)] for c in reason_code[bad_lines]])

    ok_lines = np.flatnonzero(reason_code == 0)
    ok_tok = (reason_code == 0)[line_of_tok]
    table = values[ok_tok].reshape(ok_lines.size, n_fields)
    return IntTable(values=table, line_numbers=ok_lines + 1, report=report, n_lines=n_lines)


@dataclass
class FloatTable:
    """Rows of a comma-separated float file with a header line (see :func:`parse_float_csv`)."""

    header: list[str]
    values: np.ndarray  # (n_rows, n_fields) float64
    line_numbers: np.ndarray  # 1-based, the header is line 1
    report: RowReport
    lines: list[bytes]


def parse_float_csv(text: bytes) -> FloatTable:
    """Parse normalised text whose first line is a header of column names and the rest float rows.

    The common case (every row well formed) is one ``numpy`` conversion of all fields; only when it fails are
    rows checked one by one, to name the malformed ones.
    """
    lines = text.split(b"\n")[:-1]  # normalised text ends with "\n"
    header = [h.decode("utf-8", errors="replace").strip().strip('"') for h in lines[0].split(b",")]
    n_fields = len(header)
    rows = [line.split(b",") for line in lines[1:]]
    counts = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    empty = np.fromiter((len(line) == 0 for line in lines[1:]), dtype=bool, count=len(rows))
    reason: dict[int, str] = {int(i): EMPTY_LINE for i in np.flatnonzero(empty)}
    reason.update({int(i): WRONG_FIELD_COUNT for i in np.flatnonzero((counts != n_fields) & ~empty)})
    candidates = [i for i in range(len(rows)) if i not in reason]
    try:
        values = np.array([rows[i] for i in candidates], dtype=np.float64).reshape(len(candidates), n_fields)
    except ValueError:
        values = np.empty((len(candidates), n_fields))
        for j, i in enumerate(candidates):
            try:
                values[j] = [float(x) for x in rows[i]]
            except ValueError:
                reason[i] = NON_NUMERIC
                values[j] = np.nan
    nonfinite = ~np.all(np.isfinite(values), axis=1)
    for j in np.flatnonzero(nonfinite):
        reason.setdefault(candidates[j], NON_FINITE)
    keep = np.array([i not in reason for i in candidates], dtype=bool)
    kept_rows = np.asarray(candidates, dtype=np.int64)[keep] if candidates else np.zeros(0, dtype=np.int64)
    bad = sorted(reason)
    report = RowReport(np.asarray(bad, dtype=np.int64) + 2, [reason[i] for i in bad])
    return FloatTable(
        header=header,
        values=values[keep] if candidates else np.zeros((0, n_fields)),
        line_numbers=kept_rows + 2,
        report=report,
        lines=lines,
    )
