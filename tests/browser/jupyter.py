"""Real-browser plumbing: a throwaway Jupyter server, a chromium page, notebook helpers.

Used by tests/test_browser.py and bench/bench_refresh.py. Everything is local: the server
listens on 127.0.0.1 with isolated config/data/runtime dirs, chromium is Debian's
(/usr/bin/chromium), and every request the page makes is recorded so tests can assert that
nothing left localhost.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

CHROMIUM = os.environ.get("HEADWIDGETS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
ROOT = Path(__file__).resolve().parents[2]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
NODELAY_CONFIG = """
from jupyter_server.services.kernels.websocket import KernelWebsocketHandler

_open = KernelWebsocketHandler.open


async def _open_nodelay(self, *args, **kwargs):
    self.set_nodelay(True)
    return await _open(self, *args, **kwargs)


KernelWebsocketHandler.open = _open_nodelay
"""


def missing_requirements() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} not found (make browser installs Debian's chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright (python) is not installed"
    if not (Path(sys.executable).parent / "jupyter").exists():
        return "jupyter is not installed in this environment"
    static = ROOT / "headwidgets" / "static" / "headcontrols.js"
    if not static.exists():
        return f"{static} is not built (make js)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_notebook(path: Path, cells: list[str]) -> Path:
    """A notebook of code cells with the python3 kernel."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(nb, path)
    return path


@dataclass
class Server:
    """A running Jupyter server."""

    kind: str
    url: str
    root: Path
    process: subprocess.Popen[bytes]
    log: Path

    def notebook_url(self, name: str) -> str:
        if self.kind == "lab":
            return f"{self.url}/lab/tree/{name}"
        return f"{self.url}/notebooks/{name}"


@contextlib.contextmanager
def jupyter_server(
    kind: Literal["lab", "notebook"], root: Path, timeout: float = 90.0, nodelay: bool = False
) -> Iterator[Server]:
    """Start ``jupyter lab`` or ``jupyter notebook`` on 127.0.0.1 (no token, isolated dirs).

    The server runs in its own process group and is stopped (with its kernels) on exit.
    ``nodelay=True`` turns off Nagle's algorithm on the kernel websockets (jupyter_server
    leaves it on, which can hold a reply back by a delayed-ACK period, ~40 ms).
    """
    port = free_port()
    home = root / ".jupyter-home"
    dirs = {
        "JUPYTER_CONFIG_DIR": home / "config",
        "JUPYTER_DATA_DIR": home / "data",
        "JUPYTER_RUNTIME_DIR": home / "runtime",
        "IPYTHONDIR": home / "ipython",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    if nodelay:
        (dirs["JUPYTER_CONFIG_DIR"] / "jupyter_server_config.py").write_text(NODELAY_CONFIG)
    if kind == "lab":  # keep JupyterLab quiet: no news, no update checks
        settings = dirs["JUPYTER_CONFIG_DIR"] / "lab" / "user-settings" / "@jupyterlab"
        (settings / "apputils-extension").mkdir(parents=True, exist_ok=True)
        (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
    env = {
        **os.environ,
        **{k: str(v) for k, v in dirs.items()},
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    app = "LabApp" if kind == "lab" else "JupyterNotebookApp"
    cmd = [
        str(Path(sys.executable).parent / "jupyter"),
        kind,
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        f"--ServerApp.root_dir={root}",
        f"--{app}.expose_app_in_browser=True",
    ]
    if kind == "lab":
        cmd.append("--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate")
    log = root / f"jupyter-{kind}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"jupyter {kind} exited early:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/api/status", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"jupyter {kind} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.25)
        yield Server(kind, url, root, process, log)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        shutil.rmtree(home, ignore_errors=True)


@dataclass
class PageLog:
    """What a page did: every request URL, JS dialogs and console errors."""

    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def own_errors(self) -> list[str]:
        """Page errors except known ones of the hosts themselves.

        Notebook 7.6's shortcut settings plugin throws "Cannot read properties of undefined
        (reading 'schema')" from notebook_core on a fresh profile, with or without widgets.
        """
        return [
            e
            for e in self.errors
            if not ("reading 'schema'" in e and "notebook_core" in e and "anywidget" not in e)
        ]

    def outside_localhost(self) -> list[str]:
        out = []
        for url in self.requests:
            parsed = urlparse(url)
            if parsed.scheme in ("data", "blob", "about"):
                continue
            if parsed.hostname not in LOCAL_HOSTS:
                out.append(url)
        return out


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Debian's chromium under Playwright; one per process (the sync API does not nest)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def new_page(browser: Any, width: int = 1500, height: int = 1100) -> Iterator[tuple[Any, PageLog]]:
    """A fresh page (own context) that records its requests, dialogs and errors."""
    log = PageLog()
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        page.on("request", lambda request: log.requests.append(request.url))

        def on_dialog(dialog: Any) -> None:
            if dialog.type != "beforeunload":
                log.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda error: log.errors.append(error.stack or str(error)))
        yield page, log
    finally:
        context.close()


def open_and_run_all(page: Any, server: Server, name: str, timeout_ms: float = 120_000) -> None:
    """Open a notebook, wait for its kernel, run all cells (through the app's commands)."""
    page.goto(server.notebook_url(name), wait_until="domcontentloaded", timeout=timeout_ms)
    page.wait_for_function(
        """() => {
            const app = window.jupyterapp;
            const panel = app && app.shell && app.shell.currentWidget;
            const kernel = panel && panel.sessionContext && panel.sessionContext.session
                && panel.sessionContext.session.kernel;
            return kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
        }""",
        timeout=timeout_ms,
        polling=200,
    )
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")


def wait_kernel_idle(page: Any, timeout_ms: float = 120_000) -> None:
    """Wait until the notebook's kernel has finished everything queued."""
    page.wait_for_function(
        """() => {
            const panel = window.jupyterapp.shell.currentWidget;
            const kernel = panel.sessionContext.session.kernel;
            const cells = panel.content.widgets;
            const running = cells.some((c) => c.model.type === 'code'
                && c.promptNode && c.promptNode.textContent.includes('*'));
            return kernel.status === 'idle' && !running;
        }""",
        timeout=timeout_ms,
        polling=200,
    )


def cell_errors(page: Any) -> list[str]:
    """Tracebacks shown in the notebook's outputs."""
    return page.eval_on_selector_all(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'],"
        " .jp-RenderedText[data-mime-type='application/vnd.jupyter.error']",
        "(els) => els.map((e) => e.textContent)",
    )
