"""One text policy for everything that comes in from outside: the API, the web forms, the command line, case files
and case payloads all check text here, so that what one edge refuses no other edge lets in.

Any text must be valid Unicode that UTF-8 can encode (no lone surrogates: they are what invalid UTF-8 decodes to
with ``surrogateescape``, and ``\\ud800`` escapes in JSON) and hold no NUL (PostgreSQL cannot store it). A name
(a user, flow, queue, skill, label, external case id, entity id: anything the UI and exports show as a name) must
also hold no control character (C0, DEL, C1), no bidirectional control (which can make a name read as another) and
no byte order mark. Free text (comments, reasons) may hold newlines, tabs and bidirectional marks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from signoff.errors import InvalidInput, Problem

# Characters no text may hold, and those a name may not hold either (a superset).
_TEXT = re.compile("[\x00\ud800-\udfff]")
_NAME = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _what(char: str) -> str:
    code = ord(char)
    if code == 0:
        kind = "a NUL character"
    elif 0xD800 <= code <= 0xDFFF:
        kind = "a lone surrogate"
    elif char in _BIDI:
        kind = "a bidirectional control"
    elif code == 0xFEFF:
        kind = "a byte order mark"
    else:
        kind = "a control character"
    return f"{kind} (U+{code:04X})"


def problem(value: str, *, name: bool) -> str | None:
    """Why ``value`` breaks the policy for a name (``name=True``) or for free text, or None if it keeps it."""
    found = (_NAME if name else _TEXT).search(value)
    return None if found is None else f"contains {_what(found.group())} at position {found.start()}"


def check(location: str, value: str, *, name: bool) -> Problem | None:
    """The problem with ``value`` at ``location``, or None."""
    reason = problem(value, name=name)
    return None if reason is None else Problem(location, reason)


def require(values: Mapping[str, str | None], *, name: bool) -> None:
    """Refuse, with every problem found, if any of ``values`` (location -> text) breaks the policy."""
    found = [p for where, value in values.items() if value is not None and (p := check(where, value, name=name))]
    if found:
        raise InvalidInput(found, "refused text")


def _pydantic(name: bool) -> AfterValidator:
    def validate(value: str) -> str:
        reason = problem(value, name=name)
        if reason is not None:
            raise PydanticCustomError("text_policy", reason)
        return value

    return AfterValidator(validate)


Name = Annotated[str, _pydantic(name=True)]
"""A name as request models take it: refused (422) if it breaks the policy for names."""

Text = Annotated[str, _pydantic(name=False)]
"""Free text as request models take it: refused (422) if it holds NUL or a lone surrogate."""
