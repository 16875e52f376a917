"""Write validators and read filters of ThreadDB collections, run in a sandboxed QuickJS engine.

Upstream (go-threads ``db/collection.go``) compiles a collection's ``writeValidator`` body as
``function _validate(writer,event,instance) {<body>}`` and its ``readFilter`` body as
``function _filter(reader,instance) {<body>}`` (tabs removed) into one goja VM per collection,
and calls them under the collection's lock:

* ``_validate`` returning ``true`` accepts the write; ``false``, ``null`` or ``undefined`` refuse
  it with ``app denied net record body``, any other value with ``app denied net record body:
  <value>``; a throw fails the write with ``running write validator func: <error>``;
* ``_filter`` returning ``null``/``undefined`` hides the instance from that reader, any other
  value is shown instead of it (as JSON); a throw fails the read with ``running read filter func:
  <error>``; a body that does not compile fails NewCollection/UpdateCollection with ``compiling js
  func: <error>``.

Here the VM is QuickJS (PyPI ``quickjs``): one context per collection, no host globals (no
``require``, ``process``, files or network), each call limited to :data:`TIME_LIMIT_S` of CPU
time, :data:`MEMORY_LIMIT` bytes of heap and :data:`STACK_LIMIT` bytes of stack. A call stopped
by a limit fails the operation with ``ResourceExhausted``-coded :class:`ScriptLimit` and the
context is rebuilt (a half-run script may have left globals behind). The engine releases the
GIL while it runs, so a looping script delays only its own collection. Why QuickJS and not V8
(mini-racer) or Duktape (dukpy): see docs/PROTOCOL.md.

Numbers: instances travel into JavaScript as JSON, so integers beyond 2^53 (``_mod`` is Unix
nanoseconds) would come back rounded; :func:`_restore_numbers` puts the original value back
wherever the script's output holds the same number, and an output equal to the input is
answered with the stored bytes themselves.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import quickjs  # type: ignore[import-untyped]

from bucketfs.errors import BucketfsError, QuotaExceeded

TIME_LIMIT_S = 0.5
MEMORY_LIMIT = 32 << 20
STACK_LIMIT = 256 << 10
DENIED = "app denied net record body"
_VALIDATE_ARGS = ("writer", "event", "instance")
_FILTER_ARGS = ("reader", "instance")

# The glue passes JSON text in and out, so no host object ever enters the sandbox.
_GLUE = """
function __bfs_validate(w, e, i) {
  var r = _validate(w === "" ? undefined : w, JSON.parse(e), i === "" ? undefined : JSON.parse(i));
  if (r === true) return true;
  if (r === false || r === null || r === undefined) return false;
  return typeof r === "string" ? r : String(JSON.stringify(r));
}
function __bfs_filter(r, i) {
  var p = JSON.parse(i), before = JSON.stringify(p);
  var o = _filter(r === "" ? undefined : r, p);
  if (o === null || o === undefined) return null;
  var s = JSON.stringify(o);
  if (s === undefined) return null;
  return s === before ? true : s;
}
"""


class ScriptLimit(QuotaExceeded):
    """A validator or filter ran too long or used too much memory and was stopped."""


def _failed(prefix: str, exc: Exception) -> BucketfsError:
    text = str(exc).strip().splitlines()
    return BucketfsError(
        f"{prefix}: {text[0] if text else type(exc).__name__}", wire_code="UNKNOWN"
    )


def _limit_of(exc: Exception) -> str | None:
    text = str(exc)
    if text.startswith("InternalError: interrupted"):
        return f"stopped after {TIME_LIMIT_S} s of CPU time"
    if "out of memory" in text:
        return f"stopped: more than {MEMORY_LIMIT >> 20} MiB of memory"
    if text.startswith("InternalError: stack overflow"):
        return f"stopped: more than {STACK_LIMIT >> 10} KiB of stack"
    return None


def _function(name: str, args: tuple[str, ...], body: str) -> str:
    return f"function {name}({','.join(args)}) {{{body}}}".replace("\t", "")


class Scripts:
    """The compiled validator and filter of one collection (either may be empty). Thread-safe."""

    def __init__(self, write_validator: str, read_filter: str) -> None:
        self.write_validator = write_validator
        self.read_filter = read_filter
        self._lock = threading.Lock()
        self._ctx = self._load()

    @property
    def validates(self) -> bool:
        return bool(self.write_validator)

    @property
    def filters(self) -> bool:
        return bool(self.read_filter)

    def _load(self) -> quickjs.Context:
        ctx = quickjs.Context()
        ctx.set_memory_limit(MEMORY_LIMIT)
        ctx.set_max_stack_size(STACK_LIMIT)
        ctx.set_time_limit(TIME_LIMIT_S)
        sources = [_GLUE]
        if self.write_validator:
            sources.append(_function("_validate", _VALIDATE_ARGS, self.write_validator))
        if self.read_filter:
            sources.append(_function("_filter", _FILTER_ARGS, self.read_filter))
        for source in sources:
            try:
                ctx.eval(source)
            except quickjs.JSException as exc:
                limit = _limit_of(exc)
                if limit is not None:
                    raise ScriptLimit(f"compiling js func: {limit}") from None
                raise _failed("compiling js func", exc) from None
        return ctx

    def _call(self, glue: str, prefix: str, *args: str) -> Any:
        with self._lock:
            try:
                return self._ctx.get(glue)(*args)
            except quickjs.JSException as exc:
                limit = _limit_of(exc)
                if limit is None:
                    raise _failed(prefix, exc) from None
                self._ctx = self._load()
                raise ScriptLimit(f"{prefix}: {limit}") from None

    def validate(self, writer: str, event: dict[str, Any], instance: str | None) -> None:
        """Run the write validator on one event; raise unless it returns ``true``."""
        if not self.write_validator:
            return
        out = self._call(
            "__bfs_validate",
            "running write validator func",
            writer,
            json.dumps(event, separators=(",", ":"), ensure_ascii=False),
            instance or "",
        )
        if out is True:
            return
        raise BucketfsError(DENIED if out is False else f"{DENIED}: {out}", wire_code="UNKNOWN")

    def filter(self, reader: str, instance: str) -> str | None:
        """The instance as ``reader`` may see it (JSON text), or None when hidden."""
        if not self.read_filter:
            return instance
        out = self._call("__bfs_filter", "running read filter func", reader, instance)
        if out is None:
            return None
        if out is True:
            return instance
        shown = _restore_numbers(json.loads(instance), json.loads(out))
        return json.dumps(shown, separators=(",", ":"), ensure_ascii=False)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _restore_numbers(original: Any, shown: Any) -> Any:
    """``shown`` with every number equal to the one at the same place in ``original`` replaced
    by the original (an integer JavaScript rounded, or 1.0 rendered as 1)."""
    if isinstance(original, dict) and isinstance(shown, dict):
        return {
            k: _restore_numbers(original[k], v) if k in original else v for k, v in shown.items()
        }
    if isinstance(original, list) and isinstance(shown, list) and len(original) == len(shown):
        return [_restore_numbers(o, s) for o, s in zip(original, shown, strict=True)]
    if _is_number(original) and _is_number(shown) and float(original) == float(shown):
        return original
    return shown
