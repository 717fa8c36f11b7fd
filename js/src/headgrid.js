// HeadGrid: a layer × head heatmap of any (layer, head) cube.
//
// Traits (Python is the source of truth; see headwidgets/widgets/headgrid.py):
//   _values  float32 buffer, C order (layer, head)     _shape   [n_layers, n_heads]
//   _layers  layer coord labels                        _heads   head coord labels
//   title, units                                       color_scale "auto"|"sequential"|"diverging"
//   vmin, vmax (null = from data)                      selected [[layer, head], ...] (labels)
//   export_path, export_status, export_error           the Export button's file and report
//
// Mouse: click selects one head, shift-click toggles, dragging a rectangle selects it
// (shift-drag adds). Keyboard: arrows move a cursor, Enter/Space toggles the head under it.
// The Export button sends {type: "export"}; Python writes export_path (+ .nc), sets
// export_status / export_error and answers {type: "exported"}.
import { decodeTensor } from "./binary.mjs";
import { makeScale, rgbCss, ticks } from "./colors.mjs";
import { batched, h, listeners, setupCanvas } from "./dom.mjs";
import { exportView } from "./exporting.mjs";
import { formatValue, headName } from "./format.mjs";
import {
  applyClick,
  applyDrag,
  cellAt,
  cellRect,
  cellsInRect,
  gridGeometry,
  isDrag,
  labelStep,
  sameCells,
} from "./layout.mjs";

const MARGIN = { left: 30, top: 22, right: 4, bottom: 4 };
const BAR = { width: 12, gap: 10, labels: 52 };

function render({ model, el }) {
  const ls = listeners();
  const root = h("div", { class: "hw-widget hw-headgrid" });
  const title = h("div", { class: "hw-title" });
  const canvas = h("canvas", {
    class: "hw-grid-canvas",
    attrs: { tabindex: 0, role: "grid", "aria-label": "layer by head heatmap" },
  });
  const bar = h("canvas", { class: "hw-colorbar", attrs: { "aria-hidden": "true" } });
  const barLabels = h("div", { class: "hw-colorbar-labels" });
  const tooltip = h("div", { class: "hw-tooltip", attrs: { role: "status" } });
  tooltip.hidden = true;
  const plot = h("div", { class: "hw-plot" }, [canvas, tooltip]);
  const legend = h("div", { class: "hw-legend" }, [bar, barLabels]);
  const footer = h("div", { class: "hw-footer" });
  const clear = h("button", { class: "hw-button hw-small", text: "clear", title: "clear the selection" });
  const summary = h("span", { class: "hw-selection" });
  const exportButton = h("button", { class: "hw-button hw-small hw-export" });
  const exportStatus = h("span", { class: "hw-export-status", attrs: { role: "status" } });
  const exportError = h("div", { class: "hw-error hw-export-error", attrs: { role: "alert" } });
  footer.append(summary, clear, exportButton, exportStatus);
  root.append(title, h("div", { class: "hw-row" }, [plot, legend]), footer, exportError);
  el.append(root);

  let state = null; // decoded traits
  let geom = null;
  let drag = null; // {x0, y0, x1, y1, shift}
  let cursor = null; // keyboard cursor {row, col}
  let hover = null;
  let exporting = false; // from the click until Python answers

  function read() {
    const shape = model.get("_shape") ?? [0, 0];
    const tensor = decodeTensor(model.get("_values"), shape);
    const layers = model.get("_layers") ?? [];
    const heads = model.get("_heads") ?? [];
    const scale = makeScale(tensor.data, {
      kind: model.get("color_scale") ?? "auto",
      vmin: model.get("vmin"),
      vmax: model.get("vmax"),
    });
    const rowOf = new Map(layers.map((v, i) => [v, i]));
    const colOf = new Map(heads.map((v, i) => [v, i]));
    const selected = (model.get("selected") ?? [])
      .filter(([layer, head]) => rowOf.has(layer) && colOf.has(head))
      .map(([layer, head]) => [rowOf.get(layer), colOf.get(head)]);
    state = { shape, tensor, layers, heads, scale, selected };
  }

  function draw() {
    if (!state) return;
    const [rows, cols] = state.shape;
    geom = gridGeometry({ rows, cols, maxWidth: 440, maxHeight: 440, minCell: 6, maxCell: 36, ...MARGIN });
    const ctx = setupCanvas(canvas, geom.width, geom.height);
    ctx.clearRect(0, 0, geom.width, geom.height);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const { x, y, size } = cellRect(geom, r, c);
        ctx.fillStyle = state.scale.css(state.tensor.get(r, c));
        ctx.fillRect(x, y, size, size);
      }
    }
    // grid lines between cells when they are big enough to see
    if (geom.cell >= 10) {
      ctx.strokeStyle = "rgba(255,255,255,0.55)";
      ctx.lineWidth = 1;
      ctx.beginPath();
      for (let r = 1; r < rows; r++) {
        ctx.moveTo(geom.left, geom.top + r * geom.cell + 0.5);
        ctx.lineTo(geom.left + geom.gridWidth, geom.top + r * geom.cell + 0.5);
      }
      for (let c = 1; c < cols; c++) {
        ctx.moveTo(geom.left + c * geom.cell + 0.5, geom.top);
        ctx.lineTo(geom.left + c * geom.cell + 0.5, geom.top + geom.gridHeight);
      }
      ctx.stroke();
    }
    // axis labels: layers down the left, heads across the top
    const fg = getComputedStyle(root).color || "#222";
    ctx.fillStyle = fg;
    ctx.font = "10px sans-serif";
    const step = labelStep(geom.cell, 12);
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (let r = 0; r < rows; r += step) {
      ctx.fillText(String(state.layers[r]), geom.left - 4, geom.top + (r + 0.5) * geom.cell);
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "bottom";
    const hstep = labelStep(geom.cell, 16);
    for (let c = 0; c < cols; c += hstep) {
      ctx.fillText(String(state.heads[c]), geom.left + (c + 0.5) * geom.cell, geom.top - 3);
    }
    ctx.save();
    ctx.font = "italic 10px sans-serif";
    ctx.textAlign = "left";
    ctx.fillText("head →", 0, 11);
    ctx.translate(9, geom.top + 2);
    ctx.rotate(Math.PI / 2);
    ctx.textBaseline = "middle";
    ctx.fillText("layer →", 0, 0);
    ctx.restore();
    // selection outlines, keyboard cursor, drag rectangle
    ctx.lineWidth = 2;
    ctx.strokeStyle = "#ff2d95";
    for (const [r, c] of state.selected) {
      const { x, y, size } = cellRect(geom, r, c);
      ctx.strokeRect(x + 1, y + 1, size - 2, size - 2);
    }
    if (cursor && document.activeElement === canvas) {
      const { x, y, size } = cellRect(geom, cursor.row, cursor.col);
      ctx.setLineDash([3, 2]);
      ctx.strokeStyle = fg;
      ctx.strokeRect(x + 0.5, y + 0.5, size - 1, size - 1);
      ctx.setLineDash([]);
    }
    if (drag && isDrag(drag.x0, drag.y0, drag.x1, drag.y1)) {
      ctx.fillStyle = "rgba(255,45,149,0.15)";
      ctx.strokeStyle = "#ff2d95";
      ctx.lineWidth = 1;
      const x = Math.min(drag.x0, drag.x1);
      const y = Math.min(drag.y0, drag.y1);
      ctx.fillRect(x, y, Math.abs(drag.x1 - drag.x0), Math.abs(drag.y1 - drag.y0));
      ctx.strokeRect(x + 0.5, y + 0.5, Math.abs(drag.x1 - drag.x0), Math.abs(drag.y1 - drag.y0));
    }
    // tests and keyboard code read the geometry from here
    canvas.dataset.geometry = JSON.stringify({
      left: geom.left,
      top: geom.top,
      cell: geom.cell,
      rows,
      cols,
    });
    drawBar();
    drawText();
  }

  function drawBar() {
    const height = Math.max(80, geom.gridHeight);
    const ctx = setupCanvas(bar, BAR.width, height);
    const [lo, hi] = state.scale.domain;
    for (let y = 0; y < height; y++) {
      const v = hi - ((hi - lo) * y) / Math.max(1, height - 1);
      ctx.fillStyle = state.scale.css(v);
      ctx.fillRect(0, y, BAR.width, 1);
    }
    legendPad(height);
    const labels = ticks(lo, hi, 4);
    barLabels.replaceChildren(
      ...labels.map((v) =>
        h("span", {
          class: "hw-tick",
          text: formatValue(v, 3),
          style: { top: `${((hi - v) / (hi - lo || 1)) * (height - 1)}px` },
        }),
      ),
    );
    barLabels.style.height = `${height}px`;
  }

  function legendPad() {
    legend.style.paddingTop = `${geom.top}px`;
  }

  function drawText() {
    const name = model.get("title") || "score";
    const units = model.get("units");
    title.textContent = units ? `${name} (${units})` : name;
    const sel = model.get("selected") ?? [];
    summary.textContent = sel.length
      ? `selected: ${sel.map(([l, hd]) => headName(l, hd)).join(", ")}`
      : "click, shift-click or drag to select heads";
    clear.disabled = sel.length === 0;
    root.dataset.selected = JSON.stringify(sel);
  }

  function showTooltip(cell, px, py) {
    if (!cell) {
      tooltip.hidden = true;
      return;
    }
    const v = state.tensor.get(cell.row, cell.col);
    const layer = state.layers[cell.row];
    const head = state.heads[cell.col];
    const units = model.get("units");
    tooltip.textContent = `layer ${layer}, head ${head}: ${formatValue(v)}${units ? ` ${units}` : ""}`;
    tooltip.hidden = false;
    tooltip.style.left = `${px + 12}px`;
    tooltip.style.top = `${py + 12}px`;
  }

  function commit(indices) {
    const labels = indices.map(([r, c]) => [state.layers[r], state.heads[c]]);
    const current = model.get("selected") ?? [];
    if (sameCells(labels, current)) return;
    model.set("selected", labels);
    model.save_changes();
  }

  function point(event) {
    const rect = canvas.getBoundingClientRect();
    return { x: event.clientX - rect.left, y: event.clientY - rect.top };
  }

  ls.on(canvas, "pointerdown", (event) => {
    if (event.button !== 0 || !geom) return;
    const { x, y } = point(event);
    drag = { x0: x, y0: y, x1: x, y1: y, shift: event.shiftKey };
    canvas.setPointerCapture?.(event.pointerId);
    canvas.focus({ preventScroll: true });
    event.preventDefault();
  });
  ls.on(canvas, "pointermove", (event) => {
    if (!geom) return;
    const { x, y } = point(event);
    const cell = cellAt(geom, x, y);
    hover = cell;
    showTooltip(cell, x, y);
    if (drag) {
      drag.x1 = x;
      drag.y1 = y;
      draw();
    }
  });
  ls.on(canvas, "pointerleave", () => {
    hover = null;
    tooltip.hidden = true;
  });
  ls.on(canvas, "pointerup", (event) => {
    if (!drag || !geom) return;
    const { x, y } = point(event);
    const d = drag;
    drag = null;
    canvas.releasePointerCapture?.(event.pointerId);
    if (isDrag(d.x0, d.y0, x, y)) {
      const cells = cellsInRect(geom, d.x0, d.y0, x, y);
      if (cells.length) commit(applyDrag(state.selected, cells, { shift: d.shift }));
      else draw();
    } else {
      const cell = cellAt(geom, x, y);
      if (cell) {
        cursor = cell;
        commit(applyClick(state.selected, [cell.row, cell.col], { shift: d.shift || event.shiftKey }));
      }
    }
    draw();
  });
  ls.on(canvas, "pointercancel", () => {
    drag = null;
    draw();
  });
  ls.on(canvas, "keydown", (event) => {
    if (!state) return;
    const [rows, cols] = state.shape;
    cursor = cursor ?? { row: 0, col: 0 };
    const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    if (moves[event.key]) {
      const [dr, dc] = moves[event.key];
      cursor = {
        row: Math.max(0, Math.min(rows - 1, cursor.row + dr)),
        col: Math.max(0, Math.min(cols - 1, cursor.col + dc)),
      };
      const { x, y, size } = cellRect(geom, cursor.row, cursor.col);
      showTooltip(cursor, x + size / 2, y + size / 2);
      draw();
      event.preventDefault();
    } else if (event.key === "Enter" || event.key === " ") {
      // Enter / Space toggle the head under the cursor (like shift-click)
      commit(applyClick(state.selected, [cursor.row, cursor.col], { shift: true }));
      event.preventDefault();
    } else if (event.key === "Escape") {
      commit([]);
    }
  });
  ls.on(canvas, "focus", () => draw());
  ls.on(canvas, "blur", () => {
    tooltip.hidden = true;
    draw();
  });
  ls.on(clear, "click", () => commit([]));

  function drawExport() {
    const view = exportView({
      path: model.get("export_path"),
      status: model.get("export_status"),
      error: model.get("export_error"),
      busy: exporting,
    });
    exportButton.textContent = view.label;
    exportButton.title = view.title;
    exportButton.disabled = view.disabled;
    exportStatus.textContent = view.status;
    exportError.textContent = view.error;
  }
  ls.on(exportButton, "click", () => {
    if (exporting) return;
    exporting = true;
    drawExport();
    model.send({ type: "export" });
  });
  ls.model(model, "msg:custom", (msg) => {
    if (msg?.type !== "exported") return;
    exporting = false;
    drawExport();
  });
  for (const name of ["export_path", "export_status", "export_error"]) {
    ls.model(model, `change:${name}`, drawExport);
  }
  drawExport();

  const redraw = batched(() => {
    try {
      read();
      draw();
      root.classList.remove("hw-has-error");
    } catch (error) {
      root.classList.add("hw-has-error");
      title.textContent = `cannot draw this cube: ${error.message}`;
    }
    if (hover) showTooltip(null);
  });
  for (const name of ["_values", "_shape", "_layers", "_heads", "color_scale", "vmin", "vmax", "selected", "title", "units"]) {
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
