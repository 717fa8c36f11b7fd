"""`make demo` (= `headwidgets demo`) opens the quickstart notebook, not the launcher.

The real command starts a real JupyterLab (no browser); the URL it would open is read from the
file jupyter_server writes for the browser, and the notebook behind it must be served.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from headwidgets.cli import demo_command
from tests.browser.jupyter import chromium, free_port, missing_requirements, new_page

ROOT = Path(__file__).resolve().parent.parent


def test_make_demo_runs_the_demo_command() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    assert "headwidgets demo" in recipe


def test_the_demo_opens_the_quickstart_that_the_server_serves(tmp_path: Path) -> None:
    pytest.importorskip("jupyterlab")
    port = free_port()
    dirs = {
        "JUPYTER_CONFIG_DIR": tmp_path / "config",
        "JUPYTER_DATA_DIR": tmp_path / "data",
        "JUPYTER_RUNTIME_DIR": tmp_path / "runtime",
        "IPYTHONDIR": tmp_path / "ipython",
    }
    for path in dirs.values():
        path.mkdir()
    extra = ["--no-browser", f"--port={port}", "--ServerApp.port_retries=0"]
    extra += ["--IdentityProvider.token=", "--ServerApp.password="]
    command = demo_command(None, ["--", *extra])
    env = {**os.environ, **{key: str(value) for key, value in dirs.items()}}
    log = tmp_path / "lab.log"
    with open(log, "wb") as out:
        # started from the checkout's root, as `make demo` is
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 90
        opened: list[Path] = []
        while not opened:
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            # the page the browser would open for the file to run (jupyter_server also writes
            # jpserver-PID-open.html, the plain /lab page, which a browser opens without one)
            opened = list(dirs["JUPYTER_RUNTIME_DIR"].glob("jpserver-file-to-run-*-open.html"))
            time.sleep(0.25)
        time.sleep(0.5)  # the file is written in one go; give the writer a moment
        match = re.search(r'href="([^"]+)"', opened[0].read_text())
        assert match, opened[0].read_text()
        url = urllib.parse.urlparse(match.group(1))
        assert url.path.startswith("/lab/tree/"), url
        relative = url.path.removeprefix("/lab/tree/")
        assert relative == "01_quickstart.ipynb"
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/api/contents/{relative}?content=0") as response:
            model = json.load(response)
        assert model["type"] == "notebook" and model["name"] == "01_quickstart.ipynb"
        with urllib.request.urlopen(f"{base}{url.path}") as response:
            assert response.status == 200
        # what a user sees: the page opens the quickstart itself, and nothing was not found
        why = missing_requirements()
        if why is None:
            with chromium() as browser, new_page(browser) as (page, page_log):
                page.goto(match.group(1), wait_until="domcontentloaded", timeout=120_000)
                page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
                title = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
                assert "01_quickstart.ipynb" in title.text_content()
                assert page_log.errors == []
        text = log.read_text()
        assert " 404 " not in text and "404 GET" not in text, text[-2000:]
        # the URL the server prints for a terminal user goes to the notebook too
        printed = re.findall(rf"http://127\.0\.0\.1:{port}(/\S*)", text)
        assert printed and all(p.startswith("/lab/tree/01_quickstart.ipynb") for p in printed)
        if why is not None:
            pytest.skip(f"served, but not opened in a browser: {why}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:  # a loaded 2-core machine can take longer to shut a server down: then kill it
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
