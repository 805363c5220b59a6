"""Parse JSON inputs strictly: bounded nesting, no repeated keys, no endless numbers."""

from __future__ import annotations

import json
import re
from typing import Any

#: A services file nests lists and objects at most this deep. An Open Referral UK service with
#: nested locations, addresses and taxonomy terms needs about 6 levels; Python's parser fails
#: (RecursionError) somewhere near 1,000.
MAX_JSON_DEPTH = 64

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


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
