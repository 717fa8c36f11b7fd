"""A tiny Jupyter server extension: TCP_NODELAY on kernel websockets.

jupyter_server leaves Nagle's algorithm on for the websocket between the browser and the
kernel. A widget's reply that follows the kernel's "busy" status message can then wait for a
delayed ACK (~40 ms on Linux loopback), which is most of a slider refresh's latency (measured
in ``bench/bench_refresh.py``: a comm round trip of 53 ms p50 drops to 20 ms).

Installing headwidgets enables this extension (``jupyter-config/.../headwidgets.json``); it
only turns on TCP_NODELAY for kernel websockets, which helps every kernel and widget. Disable
it with ``jupyter server extension disable headwidgets.jupyter_nodelay``.
"""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "headwidgets.jupyter_nodelay"}]


def patch_kernel_websockets() -> bool:
    """Make kernel websocket handlers set TCP_NODELAY when they open (idempotent).

    Returns False when this jupyter_server has no such handler (nothing patched).
    """
    try:
        from jupyter_server.services.kernels.websocket import KernelWebsocketHandler
    except ImportError:  # pragma: no cover - jupyter_server not installed
        return False
    original = KernelWebsocketHandler.open
    if getattr(original, "_headwidgets_nodelay", False):
        return True

    async def open_nodelay(self: Any, *args: Any, **kwargs: Any) -> Any:
        self.set_nodelay(True)
        return await original(self, *args, **kwargs)

    open_nodelay._headwidgets_nodelay = True  # type: ignore[attr-defined]
    KernelWebsocketHandler.open = open_nodelay  # type: ignore[method-assign]
    return True


def _load_jupyter_server_extension(serverapp: Any) -> None:
    if patch_kernel_websockets():
        serverapp.log.info("headwidgets: TCP_NODELAY on kernel websockets")
