"""Problems in a services file: what is wrong, where a person sees it, and how to fix it."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

from servicemap.errors import ServicesFileError

Severity = Literal["error", "warning"]

#: Column added by :func:`read_services_table`: the spreadsheet row (header = row 1) of each
#: record, or the record number (1, 2, …) for JSON and GeoJSON.
ROW = "row"


# Characters no cell may hold: control characters other than tab and line breaks (NUL, ESC,
# DEL, the C1 controls), the bidirectional overrides that make text display other than it
# reads, a stray byte order mark, and half a surrogate pair (from a JSON "\\ud800" escape, which
# no UTF-8 output can hold). They are invisible, and would be copied into every output.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202d\u202e\ufeff\ud800-\udfff]")
_CONTROL_NAMES = {
    0x00: "NUL",
    0x07: "BEL",
    0x08: "backspace",
    0x0B: "vertical tab",
    0x0C: "form feed",
    0x1B: "ESC",
    0x7F: "DEL",
    0x202D: "left-to-right override",
    0x202E: "right-to-left override",
    0xFEFF: "byte order mark",
}


@dataclass(frozen=True)
class Problem:
    """One problem in a services file, located as a person sees it in their spreadsheet.

    Attributes
    ----------
    severity
        ``"error"`` (the file cannot be used until it is fixed) or ``"warning"`` (usable, but
        doubtful).
    file
        The file, as the user named it.
    row
        The spreadsheet row (header = row 1, first record = row 2); for JSON and GeoJSON the
        record number (first = 1); None for a problem with the whole file.
    column
        The schema field (or the column as written) concerned, or None.
    value
        The offending value (shortened if very long), or None.
    message
        What is wrong, as a sentence.
    fix
        How to fix it, as a sentence.
    code
        A short stable name of the kind of problem (e.g. ``"unknown-postcode"``).
    """

    severity: Severity
    file: str
    row: int | None
    column: str | None
    value: str | None
    message: str
    fix: str = ""
    code: str = ""

    def __str__(self) -> str:
        where = self.file if self.row is None else f"{self.file}:{self.row}"
        column = f" column {self.column!r}:" if self.column else ""
        fix = f" Fix: {self.fix}" if self.fix else ""
        return f"{where}:{column} {self.message}{fix}"

    def to_dict(self) -> dict[str, Any]:
        """Return the problem as a plain dict (for JSON and CSV output)."""
        return asdict(self)


class ProblemReport:
    """Collects the problems of one file, in the order they are found."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def add(
        self,
        severity: Severity,
        code: str,
        message: str,
        fix: str = "",
        *,
        row: int | None = None,
        column: str | None = None,
        value: str | None = None,
    ) -> None:
        """Add a problem; a long value is shortened to 200 characters."""
        shown = None if value is None else shorten(value, 200)
        self.problems.append(Problem(severity, self.file, row, column, shown, message, fix, code))

    def error(self, code: str, message: str, fix: str = "", **where: Any) -> None:
        """Add an error (``row``, ``column`` and ``value`` say where)."""
        self.add("error", code, message, fix, **where)

    def warning(self, code: str, message: str, fix: str = "", **where: Any) -> None:
        """Add a warning (``row``, ``column`` and ``value`` say where)."""
        self.add("warning", code, message, fix, **where)


class UnreadableError(ServicesFileError):
    """The file is not a table at all; carries the message and the fix separately."""

    def __init__(self, file: str, message: str, fix: str) -> None:
        super().__init__(f"Services file {file!r} {message} Fix: {fix}")
        self.file = file
        self.message = message
        self.fix = fix


def shorten(text: str, limit: int = 60) -> str:
    """Return text cut to ``limit`` characters, ending with ``…`` if it was cut."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def show(text: str) -> str:
    """Return ``repr`` of a value for a message, shortened so a 10 MB cell stays readable."""
    text = str(text)
    if len(text) > 60:
        return repr(text[:57]) + f"… ({len(text):,} characters)"
    return repr(text)


def visible(text: str) -> str:
    """Return text with its control characters written as escapes (``\\x00``, ``\\u202e``)."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def control_problem(text: str) -> tuple[str, str, str] | None:
    """Describe the first control character in ``text``: message, fix and the value to show.

    None if there is none. The value shown is the text around the character, escaped.
    """
    found = _CONTROL.search(text)
    if found is None:
        return None
    code = ord(found.group())
    if 0xD800 <= code < 0xE000:
        label = "unpaired surrogate"
    else:
        label = _CONTROL_NAMES.get(code, "control character")
    count = len(_CONTROL.findall(text))
    more = f" (and {count - 1} more)" if count > 1 else ""
    start, end = max(0, found.start() - 25), found.start() + 25
    before, after = ("…" if start else ""), ("…" if end < len(text) else "")
    return (
        f"holds an invisible {label} (U+{code:04X}) at character {found.start() + 1:,}{more}: "
        f"{before}{text[start:end]!r}{after}; it would be copied into every output.",
        "delete it: retype the value, or use Find and Replace, then save the file again.",
        before + visible(text[start:end]) + after,
    )


def plural(count: int, noun: str) -> str:
    """Return ``"1 error"`` or ``"3 errors"``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
