"""The widgets in a real browser: JupyterLab 4 and Notebook 7, driven by Playwright + chromium.

One JupyterLab server and one page serve the JupyterLab tests (module fixture, tests run in
file order on the same notebook); Notebook 7 gets its own server. The model is a shipped one
when present (see tests/browser/scenario.py); the test process loads the same model and
checks what the page shows against the engine.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.browser.jupyter import (
    cell_errors,
    chromium,
    jupyter_server,
    missing_requirements,
    new_page,
    open_and_run_all,
    wait_kernel_idle,
    write_notebook,
)
from tests.browser.scenario import XSS_PROMPT, Scenario, scenario

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
WHY_NOT = missing_requirements()
if WHY_NOT:
    pytestmark.append(pytest.mark.skip(reason=WHY_NOT))


#: per scenario model, a corrupted prompt of the same token length (path patching)
CORRUPT = {
    "circuits-4l": "When Mary and John went to the store, Mary gave a drink to",
    "induction-2l": "ka ro vi tu ro be ka ro vi tu ne",
    "tiny-gpt2 (random init)": "w1 w5 w9 w2 w17 w1 w5 w9 w13",
}


def notebook_cells(case: Scenario) -> list[str]:
    return [
        case.setup_cell(),
        case.explorer_cell(),
        # a second Explorer with a path matrix (test_clicking_a_path_...)
        f"pex = hw.Explorer(hm, PROMPT, target={case.target!r}, distractor={case.distractor!r},"
        f" corrupt={CORRUPT[case.model]!r})\npex",
        f"xss = hw.OutputView(hm, {XSS_PROMPT!r}, n_generate=2)\nxss",
    ]


@pytest.fixture(scope="module")
def case() -> Scenario:
    return scenario()


@pytest.fixture(scope="module")
def hm(case: Scenario) -> Any:
    return case.head_model()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def lab(
    case: Scenario, browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, Any]]:
    """JupyterLab with the test notebook run; yields (page, page log)."""
    root = tmp_path_factory.mktemp("lab")
    write_notebook(root / "explorer.ipynb", notebook_cells(case))
    with jupyter_server("lab", root) as server, new_page(browser) as (page, log):
        open_and_run_all(page, server, "explorer.ipynb")
        page.wait_for_selector(".hw-explorer .hw-headgrid canvas[data-geometry]", timeout=120_000)
        wait_kernel_idle(page)
        yield page, log


# -- helpers ----------------------------------------------------------------------------------


def explorer(page: Any) -> Any:
    return page.locator(".hw-explorer").first


def click_head(page: Any, layer: int, head: int, shift: bool = False) -> None:
    canvas = explorer(page).locator(".hw-headgrid canvas.hw-grid-canvas")
    geometry = json.loads(canvas.get_attribute("data-geometry"))
    x = geometry["left"] + (head + 0.5) * geometry["cell"]
    y = geometry["top"] + (layer + 0.5) * geometry["cell"]
    canvas.click(position={"x": x, "y": y}, modifiers=["Shift"] if shift else [])


def control_row(page: Any, layer: int, head: int) -> Any:
    return explorer(page).locator(f".hw-control-row[data-layer='{layer}'][data-head='{head}']")


def selected_row(page: Any, layer: int, head: int) -> Any:
    """The head's control row, clicking the head in the grid first if it has none."""
    row = control_row(page, layer, head)
    if row.count() == 0:
        click_head(page, layer, head)
        row.wait_for(timeout=30_000)
    return row


def settled(page: Any, summary: str, timeout_ms: float = 30_000) -> None:
    """Wait until no request is in flight and the outputs show the intervention ``summary``."""
    page.wait_for_function(
        """([summary]) => {
            const ex = document.querySelector('.hw-explorer');
            const controls = ex.querySelector('.hw-headcontrols');
            const text = ex.querySelector('.hw-outputview .hw-intervention');
            return controls.dataset.busy !== 'true' && text
                && text.textContent === summary;
        }""",
        arg=[summary],
        timeout=timeout_ms,
    )


def shown_intervened(page: Any) -> tuple[list[str], np.ndarray]:
    rows = explorer(page).locator(".hw-outputview .hw-intervened tr")
    tokens = rows.locator(".hw-tok").all_text_contents()
    probs = [
        float(p)
        for p in rows.locator(".hw-prob").evaluate_all("(els) => els.map((e) => e.dataset.prob)")
    ]
    return tokens, np.array(probs)


def engine_top_k(hm: Any, case: Scenario, spec: Any, k: int = 10) -> tuple[list[str], np.ndarray]:
    probs = hm.run(case.prompt, intervention=spec).logits[0, -1].softmax(-1)
    top = probs.topk(k)
    tokens = [hm.tokenizer.decode([int(i)]) for i in top.indices]
    return tokens, top.values.numpy()


def visible(token: str) -> str:
    """What the front end shows for a token in the top-k table (format.mjs visibleToken)."""
    if token == "":
        return "∅"
    return token.replace(" ", "␣").replace("\n", "↵").replace("\t", "⇥").replace("\r", "␍")


def most_important_head(hm: Any, case: Scenario) -> tuple[int, int]:
    from headwidgets.widgets import Explorer

    cube = hm.sweep(case.prompt, Explorer.default_metric(case.target, case.distractor))
    flat = int(np.nanargmax(np.abs(cube.values)))
    return divmod(flat, cube.sizes["head"])


# -- JupyterLab -------------------------------------------------------------------------------


def test_explorer_renders_in_jupyterlab(lab: tuple[Any, Any], hm: Any) -> None:
    page, log = lab
    assert cell_errors(page) == []
    ex = explorer(page)
    geometry = json.loads(ex.locator("canvas.hw-grid-canvas").get_attribute("data-geometry"))
    assert (geometry["rows"], geometry["cols"]) == (hm.n_layers, hm.n_heads)
    assert ex.locator(".hw-outputview .hw-baseline tr").count() == 10
    assert ex.locator(".hw-outputview .hw-metrics tbody tr").count() >= 2
    assert log.own_errors() == []


def test_clicking_a_head_and_zeroing_it_shows_the_engines_probabilities(
    lab: tuple[Any, Any], hm: Any, case: Scenario
) -> None:
    import headwidgets as hw

    page, _ = lab
    layer, head = most_important_head(hm, case)
    click_head(page, layer, head)
    row = control_row(page, layer, head)
    row.wait_for(timeout=30_000)
    assert json.loads(explorer(page).locator(".hw-headgrid").get_attribute("data-selected")) == [
        [layer, head]
    ]
    slider = row.locator("input[type=range]")
    slider.focus()
    slider.evaluate(
        "(el) => { el.value = '0'; el.dispatchEvent(new Event('input', {bubbles: true}));"
        " el.dispatchEvent(new Event('change', {bubbles: true})); }"
    )
    settled(page, f"intervention: L{layer} H{head} ×0")
    tokens, probs = shown_intervened(page)
    want_tokens, want_probs = engine_top_k(hm, case, hw.Intervention.scale({(layer, head): 0.0}))
    np.testing.assert_allclose(probs, want_probs, rtol=1e-4, atol=1e-6)
    assert tokens[0] == visible(want_tokens[0])
    _, base = engine_top_k(hm, case, None)
    assert not np.allclose(probs, base, rtol=1e-4), "zeroing the head changed nothing"
    status = explorer(page).locator(".hw-headcontrols .hw-status").text_content()
    assert "refresh" in status and "ms" in status
    assert "ms" in explorer(page).locator(".hw-outputview .hw-refresh").text_content()


def test_a_fast_drag_through_50_values_ends_at_the_final_value(
    lab: tuple[Any, Any], hm: Any, case: Scenario
) -> None:
    import headwidgets as hw

    page, _ = lab
    layer, head = most_important_head(hm, case)
    row = selected_row(page, layer, head)
    slider = row.locator("input[type=range]")
    slider.evaluate(
        "(el) => { window.__hwValues = []; el.addEventListener('input',"
        " () => window.__hwValues.push(el.value)); }"
    )
    done_before = int(explorer(page).locator(".hw-headcontrols").get_attribute("data-done") or 0)
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + 0.15 * box["width"], y)
    page.mouse.down()
    page.mouse.move(box["x"] + 0.85 * box["width"], y, steps=50)
    page.mouse.up()
    values = page.evaluate("() => window.__hwValues")
    final = float(slider.input_value())
    assert len(set(values)) >= 40, f"the drag produced only {len(set(values))} values"
    assert float(values[-1]) == final
    settled(page, f"intervention: L{layer} H{head} ×{final:g}" if final != 1 else "no intervention")
    done = int(explorer(page).locator(".hw-headcontrols").get_attribute("data-done"))
    assert done - done_before < len(values), "requests were not coalesced"
    _, probs = shown_intervened(page)
    _, want = engine_top_k(hm, case, hw.Intervention.scale({(layer, head): final}))
    np.testing.assert_allclose(probs, want, rtol=1e-4, atol=1e-6)
    alpha = row.locator(".hw-alpha").text_content()
    assert alpha.replace("−", "-").startswith("α")


def test_an_inside_attention_mode_gets_its_own_slider_and_the_engines_outputs(
    lab: tuple[Any, Any], hm: Any, case: Scenario
) -> None:
    import headwidgets as hw

    page, _ = lab
    layer, head = most_important_head(hm, case)
    row = selected_row(page, layer, head)
    row.locator("select").select_option("sink")
    settled(page, "no intervention")  # β starts at its neutral value, 1
    slider = row.locator("input[type=range]")
    assert (slider.get_attribute("min"), slider.get_attribute("max")) == ("0", "2")
    assert row.locator(".hw-alpha").text_content() == "β 1"
    slider.evaluate(
        "(el) => { el.value = '0'; el.dispatchEvent(new Event('input', {bubbles: true})); }"
    )
    settled(page, f"intervention: L{layer} H{head} sink β=0")
    _, probs = shown_intervened(page)
    _, want = engine_top_k(hm, case, hw.Intervention.sink({(layer, head): 0.0}))
    np.testing.assert_allclose(probs, want, rtol=1e-4, atol=1e-6)
    row.locator("select").select_option("scale")  # back to the z site, untouched
    settled(page, "no intervention")


def test_a_python_error_is_shown_inside_the_widget(lab: tuple[Any, Any]) -> None:
    page, _ = lab
    controls = explorer(page).locator(".hw-headcontrols")
    controls.locator("input[aria-label=k]").fill("0")
    controls.get_by_role("button", name="ablate top-k").click()
    error = controls.locator(".hw-error")
    error.wait_for(state="visible", timeout=30_000)
    assert "k must be >= 1, got 0" in error.text_content()
    controls.locator("input[aria-label=k]").fill("2")
    controls.get_by_role("button", name="ablate top-k").click()
    error.wait_for(state="hidden", timeout=30_000)
    page.wait_for_function(
        "() => document.querySelectorAll('.hw-explorer .hw-control-row').length === 2"
    )


def test_markup_in_a_prompt_is_shown_as_text_and_never_runs(lab: tuple[Any, Any]) -> None:
    page, log = lab
    views = page.locator(".hw-outputview")
    xss = views.nth(views.count() - 1)
    xss.scroll_into_view_if_needed()
    text = xss.locator(".hw-prompt-text").inner_text()
    assert "<img src=x onerror=alert(1)>" in text
    assert "<script>alert(2)</script>" in text
    assert xss.locator("img, script").count() == 0
    assert page.locator(".hw-widget img, .hw-widget script").count() == 0
    page.wait_for_timeout(500)
    assert log.dialogs == []


def test_hover_shows_layer_head_and_value_and_drag_selects_a_rectangle(
    lab: tuple[Any, Any], hm: Any
) -> None:
    page, _ = lab
    ex = explorer(page)
    canvas = ex.locator("canvas.hw-grid-canvas")
    geometry = json.loads(canvas.get_attribute("data-geometry"))
    cell = geometry["cell"]
    canvas.hover(position={"x": geometry["left"] + 0.5 * cell, "y": geometry["top"] + 0.5 * cell})
    tooltip = ex.locator(".hw-headgrid .hw-tooltip")
    tooltip.wait_for(state="visible")
    assert tooltip.text_content().startswith("layer 0, head 0: ")
    # drag from head (0, 0) to head (1, 1): four heads
    box = canvas.bounding_box()
    x0, y0 = box["x"] + geometry["left"] + 0.3 * cell, box["y"] + geometry["top"] + 0.3 * cell
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 + 1.4 * cell, y0 + 1.4 * cell, steps=5)
    page.mouse.up()
    page.wait_for_function(
        "() => document.querySelectorAll('.hw-explorer .hw-control-row').length === 4"
    )
    selected = json.loads(ex.locator(".hw-headgrid").get_attribute("data-selected"))
    assert selected == [[0, 0], [0, 1], [1, 0], [1, 1]]
    # shift-click removes one head, plain click keeps just one
    click_head(page, 0, 1, shift=True)
    page.wait_for_function(
        "() => document.querySelectorAll('.hw-explorer .hw-control-row').length === 3"
    )
    click_head(page, hm.n_layers - 1, 0)
    page.wait_for_function(
        "() => document.querySelectorAll('.hw-explorer .hw-control-row').length === 1"
    )


def test_hovering_a_query_token_highlights_what_it_attends_to(lab: tuple[Any, Any]) -> None:
    page, _ = lab
    view = explorer(page).locator(".hw-attentionview")
    queries = view.locator(".hw-query-labels .hw-axis-token")
    queries.last.wait_for()
    queries.last.hover()
    keys = view.locator(".hw-key-labels .hw-axis-token")
    tinted = keys.evaluate_all("(els) => els.filter((e) => e.style.background !== '').length")
    assert tinted == keys.count() > 0
    assert "hw-focus" in (queries.last.get_attribute("class") or "")


def test_clicking_a_path_patches_it_and_the_outputs_show_the_engines_run(
    lab: tuple[Any, Any], hm: Any, case: Scenario
) -> None:
    import headwidgets as hw
    from headwidgets.widgets import Explorer

    page, log = lab
    ex = page.locator(".hw-explorer", has=page.locator(".hw-pathmatrix"))
    matrix = ex.locator(".hw-pathmatrix")
    matrix.scroll_into_view_if_needed()
    canvas = matrix.locator("canvas.hw-path-canvas")
    canvas.wait_for(timeout=60_000)
    # the strongest path into a q, k or v input, measured here on the same model
    corrupt = CORRUPT[case.model]
    metric = Explorer.default_metric(case.target, case.distractor)
    receivers = [(layer, h) for layer in range(1, hm.n_layers) for h in range(hm.n_heads)]
    cube = hw.scores.path_patching(hm, case.prompt, corrupt, metric, receivers=receivers)
    values = np.nan_to_num(cube.values, nan=0.0)  # (layer, head, receiver, input)
    layer, head, r, i = np.unravel_index(int(np.abs(values).argmax()), values.shape)
    x, receiver = str(cube["input"].values[i]), str(cube["receiver"].values[r])
    want = float(cube.values[layer, head, r, i])
    matrix.locator(f"button[data-input='{x}']").click()
    page.wait_for_function(
        "([x]) => document.querySelector('.hw-pathmatrix').dataset.input === x", arg=[x]
    )
    geometry = json.loads(canvas.get_attribute("data-geometry"))
    row, col = int(layer) * hm.n_heads + int(head), int(r)
    assert (geometry["rows"], geometry["cols"]) == (hm.n_layers * hm.n_heads, len(receivers))
    canvas.click(
        position={
            "x": geometry["left"] + (col + 0.5) * geometry["cell"],
            "y": geometry["top"] + (row + 0.5) * geometry["cell"],
        }
    )
    spec = hw.scores.path_intervention(
        hm, case.prompt, corrupt, (int(layer), int(head)), r_head(receiver), x
    )
    from headwidgets.widgets.live import summarize

    wait_path_shown(page, f"intervention: {summarize(spec)}")
    shown = json.loads(matrix.get_attribute("data-path"))
    assert shown == {"sender": [int(layer), int(head)], "receiver": receiver, "input": x}
    assert float(matrix.get_attribute("data-live")) == pytest.approx(want, abs=1e-4)
    assert float(matrix.get_attribute("data-cube")) == pytest.approx(want, abs=1e-6)
    rows = ex.locator(".hw-outputview .hw-intervened tr")
    probs = [
        float(p)
        for p in rows.locator(".hw-prob").evaluate_all("(els) => els.map((e) => e.dataset.prob)")
    ]
    _, want_probs = engine_top_k(hm, case, spec)
    np.testing.assert_allclose(probs, want_probs, rtol=1e-4, atol=1e-6)
    assert "patched" in matrix.locator(".hw-path-summary").text_content()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ex.screenshot(path=str(ARTIFACTS / "pathmatrix-jupyterlab.png"))
    # the same cell again: the path is cleared, the outputs are the clean run's
    canvas.click(
        position={
            "x": geometry["left"] + (col + 0.5) * geometry["cell"],
            "y": geometry["top"] + (row + 0.5) * geometry["cell"],
        }
    )
    wait_path_shown(page, "no intervention")
    assert matrix.get_attribute("data-path") == "null"
    assert log.own_errors() == []


def r_head(label: str) -> tuple[int, int]:
    layer, head = label.split(".")
    return int(layer), int(head)


def wait_path_shown(page: Any, summary: str, timeout_ms: float = 60_000) -> None:
    """Wait until the path Explorer's matrix is idle and its outputs show ``summary``."""
    page.wait_for_function(
        """([summary]) => {
            const matrix = document.querySelector('.hw-pathmatrix');
            const ex = matrix.closest('.hw-explorer');
            const text = ex.querySelector('.hw-outputview .hw-intervention');
            return matrix.dataset.busy === 'false' && text && text.textContent === summary;
        }""",
        arg=[summary],
        timeout=timeout_ms,
    )


def test_the_page_made_no_request_outside_localhost(lab: tuple[Any, Any]) -> None:
    page, log = lab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ex = explorer(page)
    # a telling state for the screenshot: the two most important heads ablated
    controls = ex.locator(".hw-headcontrols")
    controls.locator("input[aria-label=k]").fill("2")
    controls.get_by_role("button", name="ablate top-k").click()
    page.wait_for_function(
        """() => {
            const ex = document.querySelector('.hw-explorer');
            return ex.querySelectorAll('.hw-control-row.hw-edited').length === 2
                && ex.querySelector('.hw-headcontrols').dataset.busy !== 'true'
                && ex.querySelector('.hw-generation[data-current="true"]');
        }"""
    )
    ex.scroll_into_view_if_needed()
    ex.locator(".hw-attentionview .hw-query-labels .hw-axis-token").last.hover()
    shot = ARTIFACTS / "explorer-jupyterlab.png"
    ex.screenshot(path=str(shot))
    page.screenshot(path=str(ARTIFACTS / "jupyterlab-page.png"))
    images = ROOT / "docs" / "images"
    if images.is_dir():
        shutil.copyfile(shot, images / "explorer.png")
    assert log.requests, "the page log recorded nothing"
    assert log.outside_localhost() == []


# -- Notebook 7 -------------------------------------------------------------------------------


def test_explorer_renders_and_selects_in_notebook_7(
    case: Scenario, browser: Any, tmp_path: Path
) -> None:
    write_notebook(tmp_path / "explorer.ipynb", notebook_cells(case)[:2])
    with jupyter_server("notebook", tmp_path) as server, new_page(browser) as (page, log):
        open_and_run_all(page, server, "explorer.ipynb")
        page.wait_for_selector(".hw-explorer .hw-headgrid canvas[data-geometry]", timeout=120_000)
        wait_kernel_idle(page)
        assert cell_errors(page) == []
        assert explorer(page).locator(".hw-outputview .hw-baseline tr").count() == 10
        click_head(page, 0, 0)
        control_row(page, 0, 0).wait_for(timeout=30_000)
        explorer(page).scroll_into_view_if_needed()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "notebook7-page.png"))
        assert log.own_errors() == [] and log.dialogs == []
        assert log.outside_localhost() == []


def test_refresh_benchmark_runs_in_quick_mode(browser: Any) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_refresh", ROOT / "bench" / "bench_refresh.py"
    )
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = bench.main(["--quick"], browser=browser)
    assert result["events"] == 5 and 0 < result["first_p50"] <= result["full_p50"]
