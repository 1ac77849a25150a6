"""The shape of an audit event that records a change: the document before, the one after, and the difference as an
RFC 6902 JSON Patch (https://www.rfc-editor.org/rfc/rfc6902) from one to the other. A patch is a standard, small,
ordered list of operations on JSON Pointer paths (RFC 6901) that any JSON Patch library can apply to ``before`` to
give ``after`` again, so an auditor can check an event against itself."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jsonpatch

JSON = dict[str, Any]


def change(before: JSON | None, after: JSON | None) -> JSON:
    """``{"before": ..., "after": ..., "diff": [...]}``: None stands for a thing that did not exist (or no longer
    does), and the diff then adds (or removes) the whole document. Neither document may hold a secret."""
    patch = jsonpatch.make_patch(before or {}, after or {})
    return {"before": before, "after": after, "diff": list(patch)}


def without_credentials(value: Any) -> Any:
    """``value`` (a JSON document) with the user and password taken out of every URL that holds them
    (``https://user:secret@host/`` becomes ``https://***@host/``): a settings document may name a remote endpoint
    that way, and no audit event may hold a secret."""
    if isinstance(value, dict):
        return {key: without_credentials(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_credentials(item) for item in value]
    if isinstance(value, str) and "@" in value and "://" in value:
        parts = urlsplit(value)
        if parts.username is not None or parts.password is not None:
            host = parts.netloc.rsplit("@", 1)[1]
            return urlunsplit(parts._replace(netloc=f"***@{host}"))
    return value
