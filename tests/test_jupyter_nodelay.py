"""The server extension that turns on TCP_NODELAY for kernel websockets."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from headwidgets import jupyter_nodelay

ROOT = Path(__file__).resolve().parents[1]


def test_the_patched_handler_sets_nodelay_before_opening_and_patching_is_idempotent() -> None:
    from jupyter_server.services.kernels.websocket import KernelWebsocketHandler

    original = KernelWebsocketHandler.open
    calls: list[str] = []

    async def fake_open(self: object, *args: object) -> str:
        calls.append("open")
        return "opened"

    KernelWebsocketHandler.open = fake_open  # type: ignore[method-assign]
    try:
        assert jupyter_nodelay.patch_kernel_websockets()
        patched = KernelWebsocketHandler.open
        assert jupyter_nodelay.patch_kernel_websockets()
        assert KernelWebsocketHandler.open is patched  # not wrapped twice

        class Handler:
            def set_nodelay(self, value: bool) -> None:
                calls.append(f"nodelay={value}")

        assert asyncio.run(patched(Handler(), "kernel-id")) == "opened"
        assert calls == ["nodelay=True", "open"]
    finally:
        KernelWebsocketHandler.open = original  # type: ignore[method-assign]


def test_installing_the_package_enables_the_extension() -> None:
    config = ROOT / "jupyter-config" / "jupyter_server_config.d" / "headwidgets.json"
    enabled = json.loads(config.read_text())["ServerApp"]["jpserver_extensions"]
    assert enabled == {"headwidgets.jupyter_nodelay": True}
    points = jupyter_nodelay._jupyter_server_extension_points()
    assert points == [{"module": "headwidgets.jupyter_nodelay"}]
