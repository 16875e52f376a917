"""RFC 7386 JSON merge patches: compute one between two objects, and apply one.

Upstream stores a Save as the merge patch from the stored instance to the new one. This engine
stores the new instance itself (equivalent without read filters), and uses these functions
where a patch must be shown, e.g. to describe a Save to the Buckets service's role checks.
Note the RFC's limits: ``null`` in a patch deletes a key, so a value cannot be set to ``null``
through a patch, and arrays are replaced whole.
"""

from __future__ import annotations

from typing import Any


def create_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The merge patch turning ``old`` into ``new`` (keys of ``old`` missing in ``new`` → null)."""
    patch: dict[str, Any] = {}
    for key in old:
        if key not in new:
            patch[key] = None
    for key, value in new.items():
        before = old.get(key, _MISSING)
        if isinstance(value, dict) and isinstance(before, dict):
            sub = create_patch(before, value)
            if sub:
                patch[key] = sub
        elif before is _MISSING or not _same(before, value):
            patch[key] = _strip_nulls(value) if isinstance(value, dict) else value
    return patch


def apply_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 MergePatch(target, patch); neither argument is modified."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_patch(result.get(key), value)
    return result


_MISSING = object()


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _strip_nulls(value: dict[str, Any]) -> dict[str, Any]:
    return {
        k: _strip_nulls(v) if isinstance(v, dict) else v for k, v in value.items() if v is not None
    }
