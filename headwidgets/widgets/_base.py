"""The base every anywidget view of headwidgets shares: errors shown in the widget, messages
from the front end served one way.

- :meth:`LiveWidget._showing_errors` — a ``with`` block that writes an exception into the
  widget's ``error`` trait (the front end shows it) and raises it on.
- :meth:`LiveWidget._serve` — the request loop's Python half: a custom message of one type
  from the front end is handled, timed and answered with the id it carried; an error is
  answered, never lost in a log. While a handler runs, :attr:`LiveWidget.request` is the
  browser request being served (its id, its start time ``t0`` and the page's ``origin``).

Unknown keyword arguments raise ``TypeError``: every widget spells its keywords out (no
``**kwargs`` forwarded to the traits).

Private module.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import anywidget

Handler = Callable[[dict[str, Any]], dict[str, Any] | None]
Settle = Callable[[dict[str, Any], str], dict[str, Any]]


def error_text(exc: BaseException) -> str:
    """How an error reads in a widget: ``"ValueError: unknown head (9, 0): ..."``."""
    return f"{type(exc).__name__}: {exc}"


class LiveWidget(anywidget.AnyWidget):
    """An anywidget view whose errors are shown in its ``error`` trait (each widget declares
    it with its own help) and whose messages from the front end are served (see module)."""

    #: the browser request being served (``{"id", "t0", "origin"}``) while a handler runs,
    #: else None
    request: dict[str, Any] | None = None

    def __init__(self, **kwargs: Any) -> None:
        self._handlers: dict[str, tuple[str, Handler, Settle | None, bool]] = {}
        super().__init__(**kwargs)

    @contextlib.contextmanager
    def _showing_errors(self) -> Iterator[None]:
        """Show an error raised in the block in the widget (``error``), then raise it on."""
        try:
            yield
        except Exception as exc:
            self.set_trait("error", error_text(exc))
            raise

    def _serve(
        self,
        kind: str,
        reply: str,
        handle: Handler,
        settle: Settle | None = None,
        *,
        stamp: bool = True,
    ) -> None:
        """Answer every custom message ``{"type": kind, "id": ...}`` from the front end.

        ``handle(content)`` does the work and returns fields of the answer. Then
        ``settle(fields, error)`` (error '' when none) records the outcome in traits and
        returns the fields to send. The answer is ``{"type": reply, "id", "ms", "error",
        **fields}`` (without ``stamp``: ``{"type": reply, "error", **fields}``).
        """
        if not self._handlers:
            self.on_msg(self._handle_message)
        self._handlers[kind] = (reply, handle, settle, stamp)

    def _handle_message(self, widget: Any, content: Any, buffers: Any) -> None:
        """Serve one custom message from the front end (messages of no served type: ignored)."""
        if not isinstance(content, dict) or content.get("type") not in self._handlers:
            return
        reply, handle, settle, stamp = self._handlers[content["type"]]
        start = time.perf_counter()
        request = {key: content.get(key) for key in ("id", "t0", "origin")}
        self.request = request
        error = ""
        fields: dict[str, Any] = {}
        try:
            fields = handle(content) or {}
        except Exception as exc:  # shown in the widget, never lost in a log
            error = error_text(exc)
        finally:
            self.request = None
        if settle is not None:
            fields = settle(fields, error)
        stamped = {"id": request["id"], "ms": (time.perf_counter() - start) * 1000}
        self.send({"type": reply, **(stamped if stamp else {}), "error": error or None, **fields})
