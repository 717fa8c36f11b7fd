// AttentionView: the query × key attention pattern of the selected heads.
//
// Traits (see headwidgets/widgets/attentionview.py):
//   heads [[layer, head], ...]   active (index into heads)   run "intervened" | "baseline" | "both"
//   _tokens [str]   _patterns float32 (n_heads, T, T)   _shape [n_heads, T, T]   error
//   _baseline  float32 (n_heads, T, T) with run "both" (drawn left of the intervened pattern)
// Hover a query token (a row or its label) to see what it attends to: the key labels are
// tinted by the attention weight. Hover a key label to see which queries attend to it.
import { decodeTensor } from "./binary.mjs";
import { makeScale } from "./colors.mjs";
import { batched, h, listeners, setupCanvas } from "./dom.mjs";
import { formatValue, headName, visibleToken } from "./format.mjs";
import { cellAt, cellRect, gridGeometry } from "./layout.mjs";

function render({ model, el }) {
  const ls = listeners();
  const root = h("div", { class: "hw-widget hw-attentionview" });
  const header = h("div", { class: "hw-toolbar" });
  const tabs = h("div", { class: "hw-tabs", attrs: { role: "tablist" } });
  const runToggle = h("select", { class: "hw-select", attrs: { "aria-label": "which run" } }, [
    h("option", { text: "intervened", attrs: { value: "intervened" } }),
    h("option", { text: "baseline", attrs: { value: "baseline" } }),
    h("option", { text: "both", attrs: { value: "both" } }),
  ]);
  header.append(h("div", { class: "hw-title", text: "attention pattern" }), tabs, runToggle);
  const corner = h("div", { class: "hw-corner", text: "query ↓ key →" });
  const keyLabels = h("div", { class: "hw-key-labels" });
  const queryLabels = h("div", { class: "hw-query-labels" });
  const canvas = h("canvas", { class: "hw-pattern-canvas", attrs: { "aria-label": "attention pattern" } });
  const baseCanvas = h("canvas", {
    class: "hw-pattern-canvas hw-baseline-canvas",
    attrs: { "aria-label": "baseline attention pattern" },
  });
  const pairCaption = h("div", { class: "hw-pair-caption", text: "baseline (left) · intervened (right)" });
  const tooltip = h("div", { class: "hw-tooltip" });
  tooltip.hidden = true;
  const plot = h("div", { class: "hw-pattern" }, [
    corner,
    keyLabels,
    queryLabels,
    h("div", { class: "hw-plot hw-pair" }, [baseCanvas, canvas, tooltip]),
  ]);
  const empty = h("div", { class: "hw-empty", text: "select heads in the grid to see their attention patterns" });
  const errorBox = h("div", { class: "hw-error", attrs: { role: "alert" } });
  root.append(header, pairCaption, plot, empty, errorBox);
  el.append(root);

  let state = null;
  let geom = null;
  let focus = null; // {kind: "query"|"key", index}

  function read() {
    const shape = model.get("_shape") ?? [0, 0, 0];
    const tensor = decodeTensor(model.get("_patterns"), shape);
    const heads = model.get("heads") ?? [];
    const tokens = model.get("_tokens") ?? [];
    const active = Math.max(0, Math.min(shape[0] - 1, model.get("active") ?? 0));
    const both = model.get("run") === "both" && (model.get("_baseline")?.byteLength ?? 0) > 0;
    const baseline = both ? decodeTensor(model.get("_baseline"), shape) : null;
    state = { shape, tensor, baseline, heads, tokens, active, scale: makeScale([0, 1], { kind: "sequential" }) };
  }

  function drawTabs() {
    tabs.replaceChildren(
      ...state.heads.map(([layer, head], i) => {
        const tab = h("button", {
          class: `hw-tab${i === state.active ? " hw-active" : ""}`,
          text: headName(layer, head),
          attrs: { role: "tab", "aria-selected": String(i === state.active) },
          dataset: { index: i },
        });
        return tab;
      }),
    );
    runToggle.value = model.get("run") ?? "intervened";
  }

  function drawPattern() {
    const [n, T] = state.shape;
    plot.hidden = n === 0;
    empty.hidden = n !== 0;
    if (n === 0) return;
    const both = state.baseline !== null;
    const side = both ? 190 : 460;  // two patterns fit the Explorer's left column
    geom = gridGeometry({ rows: T, cols: T, maxWidth: side, maxHeight: side, minCell: 3, maxCell: 26 });
    pairCaption.hidden = !both;
    baseCanvas.hidden = !both;
    const paint = (target, pattern) => {
      const ctx = setupCanvas(target, geom.width, geom.height);
      for (let q = 0; q < T; q++) {
        for (let k = 0; k < T; k++) {
          const v = pattern[q * T + k];
          const { x, y, size } = cellRect(geom, q, k);
          ctx.fillStyle = state.scale.css(v);
          ctx.fillRect(x, y, size, size);
        }
      }
      if (focus) {
        ctx.strokeStyle = "#ff2d95";
        ctx.lineWidth = 2;
        if (focus.kind === "query") ctx.strokeRect(1, focus.index * geom.cell + 1, geom.gridWidth - 2, geom.cell - 2);
        else ctx.strokeRect(focus.index * geom.cell + 1, 1, geom.cell - 2, geom.gridHeight - 2);
      }
    };
    paint(canvas, state.tensor.slice(state.active));
    if (both) paint(baseCanvas, state.baseline.slice(state.active));
    const font = Math.max(7, Math.min(12, geom.cell - 2));
    const makeLabels = (container, kind) => {
      container.replaceChildren(
        ...state.tokens.map((token, i) =>
          h("span", {
            class: "hw-axis-token",
            text: visibleToken(token),
            title: `${kind} ${i}: ${visibleToken(token)}`,
            dataset: { index: i, kind },
            style: { [kind === "query" ? "height" : "width"]: `${geom.cell}px`, "font-size": `${font}px` },
          }),
        ),
      );
      container.classList.toggle("hw-tiny", geom.cell < 7);
    };
    makeLabels(keyLabels, "key");
    makeLabels(queryLabels, "query");
    tint();
    root.dataset.head = JSON.stringify(state.heads[state.active] ?? null);
  }

  /** Tint the other axis' labels by the weights of the focused row or column. */
  function tint() {
    const [, T] = state.shape;
    const pattern = state.tensor.slice(state.active);
    const clear = (container) => {
      for (const span of container.children) {
        span.style.background = "";
        span.style.color = "";
        span.classList.remove("hw-focus");
      }
    };
    clear(keyLabels);
    clear(queryLabels);
    if (!focus) return;
    const [own, other] = focus.kind === "query" ? [queryLabels, keyLabels] : [keyLabels, queryLabels];
    own.children[focus.index]?.classList.add("hw-focus");
    const weights = [];
    for (let i = 0; i < T; i++) {
      weights.push(focus.kind === "query" ? pattern[focus.index * T + i] : pattern[i * T + focus.index]);
    }
    const max = Math.max(1e-9, ...weights.filter(Number.isFinite));
    weights.forEach((v, i) => {
      const span = other.children[i];
      if (!span) return;
      // the accent color, as opaque as the weight is large (relative to the largest)
      const alpha = Number.isFinite(v) ? Math.max(0.04, v / max) : 0;
      span.style.background = `rgba(255, 45, 149, ${alpha.toFixed(3)})`;
      span.title = `${focus.kind === "query" ? "key" : "query"} ${i}: ${visibleToken(state.tokens[i])}  weight ${formatValue(v, 3)}`;
    });
  }

  const redraw = batched(() => {
    try {
      read();
      drawTabs();
      drawPattern();
      errorBox.textContent = model.get("error") ?? "";
    } catch (err) {
      errorBox.textContent = `cannot show the pattern: ${err.message}`;
    }
    errorBox.hidden = !errorBox.textContent;
  });

  function setFocus(next) {
    const same = focus && next && focus.kind === next.kind && focus.index === next.index;
    if (same || (!focus && !next)) return;
    focus = next;
    drawPattern();
  }

  ls.on(tabs, "click", (event) => {
    const tab = event.target.closest?.(".hw-tab");
    if (!tab) return;
    model.set("active", Number(tab.dataset.index));
    model.save_changes();
  });
  ls.on(runToggle, "change", () => {
    model.set("run", runToggle.value);
    model.save_changes();
  });
  for (const container of [keyLabels, queryLabels]) {
    ls.on(container, "pointerover", (event) => {
      const span = event.target.closest?.(".hw-axis-token");
      if (span) setFocus({ kind: span.dataset.kind, index: Number(span.dataset.index) });
    });
    ls.on(container, "pointerleave", () => setFocus(null));
  }
  const pairPlot = canvas.parentElement;
  for (const [target, run] of [[canvas, "intervened"], [baseCanvas, "baseline"]]) {
    ls.on(target, "pointermove", (event) => {
      if (!geom || !state) return;
      const rect = target.getBoundingClientRect();
      const x = event.clientX - rect.left;
      const y = event.clientY - rect.top;
      const cell = cellAt(geom, x, y);
      if (!cell) {
        tooltip.hidden = true;
        return;
      }
      const [, T] = state.shape;
      const tensor = run === "baseline" && state.baseline ? state.baseline : state.tensor;
      const v = tensor.slice(state.active)[cell.row * T + cell.col];
      const which = state.baseline ? `${run}: ` : "";
      tooltip.textContent =
        `${which}query ${cell.row} ${visibleToken(state.tokens[cell.row])} → key ${cell.col} ` +
        `${visibleToken(state.tokens[cell.col])}: ${formatValue(v, 3)}`;
      const offset = rect.left - pairPlot.getBoundingClientRect().left;
      tooltip.style.left = `${offset + x + 12}px`;
      tooltip.style.top = `${y + 12}px`;
      tooltip.hidden = false;
      setFocus({ kind: "query", index: cell.row });
    });
    ls.on(target, "pointerleave", () => {
      tooltip.hidden = true;
      setFocus(null);
    });
  }

  for (const name of ["heads", "active", "run", "_tokens", "_patterns", "_baseline", "_shape", "error"]) {
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
