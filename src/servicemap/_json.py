"""JSON: parse inputs strictly, write documents one record per line.

Inputs: bounded nesting, no repeated keys, no endless numbers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

#: A services file nests lists and objects at most this deep. An Open Referral UK service with
#: nested locations, addresses and taxonomy terms needs about 6 levels; Python's parser fails
#: (RecursionError) somewhere near 1,000.
MAX_JSON_DEPTH = 64

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def dumps_lines(document: Mapping[str, Any], *, allow_nan: bool = True) -> str:
    """Return a JSON object's text with each record of its lists on a line of its own.

    Readable and diff-friendly (a changed service is a changed line), and written by the
    standard library's C encoder, which an ``indent`` would turn off: a directory of 10,000
    services has about 200,000 records.

    Parameters
    ----------
    document
        The object; its values that are lists are written one item per line.
    allow_nan
        As for :func:`json.dumps`: ``False`` raises ``ValueError`` on NaN or infinity.

    Returns
    -------
    str
        The text, ending with a newline.
    """
    text = json.JSONEncoder(ensure_ascii=False, allow_nan=allow_nan).encode  # one encoder
    members = []
    for key, value in document.items():
        if isinstance(value, list) and value:
            members.append(f"{text(key)}: [\n" + ",\n".join(map(text, value)) + "\n]")
        else:
            members.append(f"{text(key)}: {text(value)}")
    return "{\n" + ",\n".join(members) + "\n}\n"


class JSONInputError(ValueError):
    """JSON that parses (or nearly) but must not be read; carries the message and the fix."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(f"{message} Fix: {fix}")
        self.message = message
        self.fix = fix


def _deepest_brackets(text: str) -> int:
    """Return how deep brackets nest in JSON text, ignoring brackets inside strings."""
    depth = deepest = 0
    for match in re.finditer(r"[\[\]{}]", _STRING.sub('""', text)):
        depth += 1 if match.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _depth(document: Any) -> int:
    """Return the nesting depth of a parsed document (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        deepest = max(deepest, depth + 1)
        if depth + 1 > MAX_JSON_DEPTH:
            break
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _too_deep(depth: int | None) -> JSONInputError:
    found = f"more than {MAX_JSON_DEPTH}" if depth is None else f"{depth:,}"
    return JSONInputError(
        f"nests lists and objects {found} levels deep; servicemap reads at most "
        f"{MAX_JSON_DEPTH} (an Open Referral UK service needs about 6).",
        "export the directory again: a file nested this deep is damaged or is not a services "
        "directory.",
    )


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) < len(pairs):
        seen: set[str] = set()
        key = ""
        for key, _ in pairs:
            if key in seen:
                break
            seen.add(key)
        shown = ", ".join(
            f"{json.dumps(k, ensure_ascii=False)}: {json.dumps(v, ensure_ascii=False)}"
            for k, v in pairs[:3]
        )
        shown = "{" + (shown if len(shown) <= 80 else shown[:79] + "…") + ", …}"
        raise JSONInputError(
            f"has the key {key!r} twice in one object ({shown}); JSON readers keep only one of "
            "the values, so which is meant is unclear.",
            f"keep one {key!r} in that object (rename or delete the other).",
        )
    return document


def loads_strict(text: str) -> Any:
    """Parse JSON text for a services or need input.

    Parameters
    ----------
    text
        The decoded file (a byte order mark already removed).

    Returns
    -------
    Any
        The document. ``NaN`` and ``Infinity`` are parsed as Python floats (as :mod:`json`
        does); the readers report them where they are used.

    Raises
    ------
    json.JSONDecodeError
        If the text is not JSON.
    JSONInputError
        If it nests deeper than :data:`MAX_JSON_DEPTH`, repeats a key in an object, or holds a
        number too long to read.
    """
    try:
        document = json.loads(text, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise _too_deep(_deepest_brackets(text)) from None
    except json.JSONDecodeError:
        raise
    except JSONInputError:
        raise
    except ValueError:  # Python refuses integers longer than 4,300 digits
        raise JSONInputError(
            "holds a number with thousands of digits, too long to read.",
            "give numbers as ordinary decimals (e.g. 51.5072), or as text in quotes.",
        ) from None
    depth = _depth(document)
    if depth > MAX_JSON_DEPTH:
        raise _too_deep(_deepest_brackets(text))
    return document
