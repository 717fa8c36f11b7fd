// PathMatrix: path-patching effects as a sender × receiver matrix for one receiver input.
//
// Traits (Python is the source of truth; see headwidgets/widgets/pathmatrix.py):
//   _values  float32 buffer, C order (sender, receiver)   _shape   [n_senders, n_receivers]
//   _senders [[layer, head], ...] per row                  _receivers ["L.H" | "logits"] per column
//   input    "q"|"k"|"v"|"logits" (shown)                  inputs   the inputs the cubes hold
//   path     {sender, receiver, input} patched, {} = none  status   {path, cube, live, baseline}
//   title, units, error
//
// A click on a cell asks Python to patch that path (clicking the patched cell clears it):
// a request through the live loop's coalescer (one in flight, the latest click wins); Python
// sets `path`, the Explorer's outputs refresh, and the answer carries the new path. The input
// buttons switch the matrix shown (a plain trait change).
import { decodeTensor } from "./binary.mjs";
import { createCoalescer, createRpc } from "./coalesce.mjs";
import { makeScale } from "./colors.mjs";
import { batched, h, listeners, setupCanvas } from "./dom.mjs";
import { formatDelta, formatMs, formatValue } from "./format.mjs";
import { cellAt, cellRect, gridGeometry, labelStep } from "./layout.mjs";
import { cellPath, isPath, pathCell, pathName, togglePath } from "./paths.mjs";

const MARGIN = { left: 34, top: 30, right: 4, bottom: 4 };
const INPUT_NAMES = { q: "query", k: "key", v: "value", logits: "logits (direct)" };

function render({ model, el }) {
  const ls = listeners();
  const root = h("div", { class: "hw-widget hw-pathmatrix" });
  const title = h("div", { class: "hw-title" });
  const tabs = h("div", { class: "hw-path-inputs", attrs: { role: "tablist", "aria-label": "receiver input" } });
  const canvas = h("canvas", {
    class: "hw-grid-canvas hw-path-canvas",
    attrs: { tabindex: 0, role: "grid", "aria-label": "sender by receiver path matrix" },
  });
  const tooltip = h("div", { class: "hw-tooltip", attrs: { role: "status" } });
  tooltip.hidden = true;
  const plot = h("div", { class: "hw-plot" }, [canvas, tooltip]);
  const legend = h("div", { class: "hw-path-legend" });
  const summary = h("span", { class: "hw-path-summary", attrs: { "aria-live": "polite" } });
  const clear = h("button", { class: "hw-button hw-small", text: "clear", title: "unpatch the path" });
  const footer = h("div", { class: "hw-footer" }, [summary, clear]);
  const status = h("div", { class: "hw-status" });
  const errorBox = h("div", { class: "hw-error", attrs: { role: "alert" } });
  root.append(title, tabs, plot, legend, footer, status, errorBox);
  el.append(root);

  let state = null;
  let geom = null;
  let localError = "";

  const rpc = createRpc((msg) => model.send(msg));
  ls.add(() => rpc.dispose());
  ls.model(model, "msg:custom", (msg) => rpc.receive(msg));
  const coalescer = createCoalescer((payload) => rpc.request(payload), {
    onResult: (response, payload, id, ms) => {
      localError = "";
      status.textContent = `refresh ${formatMs(ms)}`;
      root.dataset.refreshMs = String(ms);
      root.dataset.done = String(Number(root.dataset.done ?? 0) + 1);
    },
    onError: (error) => {
      localError = error.message;
      showError();
    },
    onIdle: () => {
      root.dataset.busy = "false";
      showError();
    },
  });
  ls.add(() => coalescer.dispose());

  function request(path) {
    root.dataset.busy = "true";
    coalescer.push({ path: path ?? {} });
  }

  function showError() {
    errorBox.textContent = localError || model.get("error") || "";
  }

  function read() {
    const shape = model.get("_shape") ?? [0, 0];
    const tensor = decodeTensor(model.get("_values"), shape);
    const senders = model.get("_senders") ?? [];
    const receivers = model.get("_receivers") ?? [];
    const scale = makeScale(tensor.data, { kind: "diverging" });
    state = {
      shape,
      tensor,
      senders,
      receivers,
      scale,
      input: model.get("input"),
      value: (r, c) => tensor.get(r, c),
    };
  }

  function drawTabs() {
    const current = model.get("input");
    tabs.replaceChildren(
      ...(model.get("inputs") ?? []).map((name) => {
        const button = h("button", {
          class: `hw-button hw-small${name === current ? " hw-active" : ""}`,
          text: INPUT_NAMES[name] ?? name,
          attrs: { role: "tab", "aria-selected": String(name === current), "data-input": name },
        });
        button.addEventListener("click", () => {
          if (model.get("input") === name) return;
          model.set("input", name);
          model.save_changes();
        });
        return button;
      }),
    );
  }

  function draw() {
    if (!state) return;
    const [rows, cols] = state.shape;
    geom = gridGeometry({ rows, cols, maxWidth: 440, maxHeight: 520, minCell: 6, maxCell: 28, ...MARGIN });
    const ctx = setupCanvas(canvas, geom.width, geom.height);
    ctx.clearRect(0, 0, geom.width, geom.height);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const { x, y, size } = cellRect(geom, r, c);
        ctx.fillStyle = state.scale.css(state.tensor.get(r, c));
        ctx.fillRect(x, y, size, size);
      }
    }
    const fg = getComputedStyle(root).color || "#222";
    ctx.fillStyle = fg;
    ctx.font = "10px sans-serif";
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    const step = labelStep(geom.cell, 12);
    for (let r = 0; r < rows; r += step) {
      const [layer, head] = state.senders[r];
      ctx.fillText(`${layer}.${head}`, geom.left - 4, geom.top + (r + 0.5) * geom.cell);
    }
    ctx.save();
    ctx.textAlign = "left";
    const cstep = labelStep(geom.cell, 12);
    for (let c = 0; c < cols; c += cstep) {
      ctx.save();
      ctx.translate(geom.left + (c + 0.5) * geom.cell, geom.top - 3);
      ctx.rotate(-Math.PI / 2);
      ctx.fillText(state.receivers[c], 0, 0);
      ctx.restore();
    }
    ctx.restore();
    ctx.font = "italic 10px sans-serif";
    ctx.textAlign = "left";
    ctx.textBaseline = "alphabetic";
    ctx.fillText("sender ↓  receiver →", 0, 10);
    const cell = pathCell(state, model.get("path"));
    if (cell) {
      const { x, y, size } = cellRect(geom, cell.row, cell.col);
      ctx.lineWidth = 2;
      ctx.strokeStyle = "#ff2d95";
      ctx.strokeRect(x + 1, y + 1, size - 2, size - 2);
    }
    const [lo, hi] = state.scale.domain;
    legend.textContent = `color: ${formatValue(lo, 3)} (blue) … ${formatValue(hi, 3)} (red); grey: no path`;
    canvas.dataset.geometry = JSON.stringify({ left: geom.left, top: geom.top, cell: geom.cell, rows, cols });
  }

  function drawText() {
    const name = model.get("title") || "path patching";
    const units = model.get("units");
    title.textContent = units ? `${name} (${units})` : name;
    const path = model.get("path");
    const s = model.get("status") ?? {};
    if (isPath(path)) {
      const cube = formatDelta(s.cube);
      const live = formatDelta(s.live);
      const direct = path.receiver === "logits" ? " (live: the MLPs and the final norm recompute)" : "";
      summary.textContent = `patched ${pathName(path)}: cube ${cube}, live Δ ${live}${direct}`;
      summary.title = s.metric ? `change in ${s.metric} (clean ${formatValue(s.baseline)})` : "";
    } else {
      summary.textContent = "click a cell to patch that path";
      summary.title = "";
    }
    clear.disabled = !isPath(path);
    // tests read the state from here
    root.dataset.path = JSON.stringify(isPath(path) ? path : null);
    root.dataset.input = model.get("input") ?? "";
    root.dataset.live = isPath(path) && s.live != null ? String(s.live) : "";
    root.dataset.cube = isPath(path) && s.cube != null ? String(s.cube) : "";
    showError();
  }

  function showTooltip(hit, px, py) {
    if (!hit) {
      tooltip.hidden = true;
      return;
    }
    const [layer, head] = state.senders[hit.row];
    const receiver = state.receivers[hit.col];
    const path = { sender: [layer, head], receiver, input: state.input };
    const v = state.tensor.get(hit.row, hit.col);
    const units = model.get("units");
    tooltip.textContent = Number.isFinite(v)
      ? `${pathName(path)}: ${formatValue(v)}${units ? ` ${units}` : ""}`
      : `${layer}.${head} → ${receiver}: no path`;
    tooltip.hidden = false;
    tooltip.style.left = `${px + 12}px`;
    tooltip.style.top = `${py + 12}px`;
  }

  function point(event) {
    const rect = canvas.getBoundingClientRect();
    return { x: event.clientX - rect.left, y: event.clientY - rect.top };
  }

  ls.on(canvas, "pointermove", (event) => {
    if (!geom) return;
    const { x, y } = point(event);
    showTooltip(cellAt(geom, x, y), x, y);
  });
  ls.on(canvas, "pointerleave", () => {
    tooltip.hidden = true;
  });
  ls.on(canvas, "click", (event) => {
    if (!geom || !state) return;
    const { x, y } = point(event);
    const hit = cellAt(geom, x, y);
    if (!hit) return;
    const clicked = cellPath(state, hit.row, hit.col);
    if (!clicked) return; // no path into this receiver (NaN cell)
    request(togglePath(model.get("path"), clicked));
  });
  ls.on(clear, "click", () => request(null));

  const redraw = batched(() => {
    try {
      read();
      draw();
      root.classList.remove("hw-has-error");
    } catch (error) {
      root.classList.add("hw-has-error");
      title.textContent = `cannot draw this matrix: ${error.message}`;
    }
    drawTabs();
    drawText();
  });
  for (const name of ["_values", "_shape", "_senders", "_receivers", "input", "inputs", "path", "status", "title", "units", "error"]) {
    ls.model(model, `change:${name}`, redraw);
  }
  ls.add(redraw.cancel);
  redraw.now();

  return () => {
    ls.removeAll();
    root.remove();
  };
}

export default { render };
