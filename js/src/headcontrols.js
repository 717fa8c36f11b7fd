// HeadControls: one row per head with a mode menu and the slider of the mode's parameter
// (α, β, τ, t, w); reset, top-k and random-k.
//
// Traits (see headwidgets/widgets/headcontrols.py):
//   edits       [{layer, head, mode, alpha}, ...]   one per head; alpha = the mode's parameter
//   _parameters [{mode, site, summary, needs, symbol, low, high, step, start, neutral}, ...]
//               the menu, in order (headwidgets.vocab.MODES: the modes are defined once,
//               there; the first is the default mode); no symbol = no slider; start = the
//               value a control takes when its mode is picked; neutral = the value that
//               changes nothing (null: every value edits)
//   k, seed                                          for "ablate top-k" / "ablate k random"
//   _modes      {mode: "" | reason it is unavailable}
//   _has_cube   whether top-k is possible           error  last error from Python ("" = none)
//
// The live loop: every control change sends the full control state to Python as a request
// (custom message) through a coalescer — one request in flight, the newest pending state
// replaces older ones — so the last request always carries the final control values.
import { createCoalescer, createRpc } from "./coalesce.mjs";
import { batched, h, listeners } from "./dom.mjs";
import { formatMs, formatValue, headName } from "./format.mjs";

const now = () => (typeof performance !== "undefined" ? performance.now() : Date.now());

function clone(edits) {
  return (edits ?? []).map((e) => ({ layer: e.layer, head: e.head, mode: e.mode, alpha: e.alpha }));
}

function render({ model, el }) {
  const ls = listeners();
  const root = h("div", { class: "hw-widget hw-headcontrols" });
  const title = h("div", { class: "hw-title", text: "head controls" });
  const reset = h("button", { class: "hw-button", text: "reset", title: "set every head back to α = 1 (untouched)" });
  const kInput = h("input", { class: "hw-number", attrs: { type: "number", min: 1, step: 1, "aria-label": "k" } });
  const seedInput = h("input", { class: "hw-number", attrs: { type: "number", step: 1, "aria-label": "seed" } });
  const topk = h("button", { class: "hw-button", text: "ablate top-k", title: "zero the k heads with the largest |value| in the cube" });
  const randomk = h("button", { class: "hw-button", text: "ablate k random", title: "zero k heads drawn at random with the seed" });
  const toolbar = h("div", { class: "hw-toolbar" }, [
    reset,
    h("label", { class: "hw-label" }, ["k ", kInput]),
    topk,
    h("label", { class: "hw-label" }, ["seed ", seedInput]),
    randomk,
  ]);
  const rowsEl = h("div", { class: "hw-rows" });
  const empty = h("div", { class: "hw-empty", text: "select heads in the grid to edit them" });
  const status = h("div", { class: "hw-status", attrs: { "aria-live": "polite" } });
  const errorBox = h("div", { class: "hw-error", attrs: { role: "alert" } });
  errorBox.hidden = true;
  root.append(title, toolbar, rowsEl, empty, status, errorBox);
  el.append(root);

  let local = clone(model.get("edits"));
  const rows = new Map(); // "layer,head" -> row elements
  ls.add(() => {
    for (const parts of rows.values()) parts.own.removeAll();
  });
  let localError = "";
  let adopt = null; // edits carried by the last response: Python's state when it answered

  const rpc = createRpc((msg) => model.send(msg));
  ls.add(() => rpc.dispose());
  ls.model(model, "msg:custom", (msg) => rpc.receive(msg));

  const coalescer = createCoalescer((payload) => rpc.request(payload), {
    now,
    onResult: (response, payload, id, ms) => {
      localError = "";
      if (Array.isArray(response.edits)) adopt = response.edits;
      const model_ms = typeof response.ms === "number" ? ` (model ${formatMs(response.ms)})` : "";
      status.textContent = `refresh ${formatMs(ms)}${model_ms}`;
      root.dataset.refreshMs = String(ms);
      if (typeof response.ms === "number") root.dataset.kernelMs = response.ms.toFixed(3);
      root.dataset.done = String(Number(root.dataset.done ?? 0) + 1);
    },
    onError: (error) => {
      localError = error.message;
      if (error.response && Array.isArray(error.response.edits)) adopt = error.response.edits;
      showError();
    },
    onIdle: () => {
      root.dataset.busy = "false";
      sync();
    },
  });
  ls.add(() => coalescer.dispose());

  /** Send the control state (or an action) to Python; latest wins while one is in flight. */
  function request(payload) {
    root.dataset.busy = "true";
    coalescer.push({ ...payload, t0: now(), origin: performance.timeOrigin });
  }

  function sendEdits() {
    request({ edits: clone(local) });
  }

  function showError() {
    const message = localError || model.get("error") || "";
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  function makeRow(edit) {
    const label = h("span", { class: "hw-head-label", text: headName(edit.layer, edit.head) });
    const select = h("select", { class: "hw-select", attrs: { "aria-label": `mode of ${headName(edit.layer, edit.head)}` } });
    for (const p of parameters()) select.append(h("option", { text: p.mode, attrs: { value: p.mode } }));
    const slider = h("input", {
      class: "hw-slider",
      attrs: { type: "range", "aria-label": `alpha of ${headName(edit.layer, edit.head)}` },
    });
    const value = h("span", { class: "hw-alpha" });
    const remove = h("button", { class: "hw-button hw-small", text: "×", title: "remove this head" });
    const row = h("div", { class: "hw-control-row", dataset: { layer: edit.layer, head: edit.head } }, [
      label,
      select,
      slider,
      value,
      remove,
    ]);
    const find = () => local.find((e) => e.layer === edit.layer && e.head === edit.head);
    const own = listeners(); // removed with the row
    own.on(slider, "input", () => {
      const e = find();
      if (!e) return;
      e.alpha = Number(slider.value);
      value.textContent = `${parameter(e.mode).symbol} ${formatValue(e.alpha, 3)}`;
      sendEdits();
    });
    own.on(slider, "dblclick", () => {
      const e = find();
      if (!e) return;
      const p = parameter(e.mode);
      if (!p.symbol) return;
      e.alpha = p.neutral ?? p.start; // a double click puts the slider back where it changes nothing
      slider.value = String(e.alpha);
      value.textContent = `${p.symbol} ${formatValue(e.alpha, 3)}`;
      sendEdits();
    });
    own.on(select, "change", () => {
      const e = find();
      if (!e) return;
      e.mode = select.value;
      const p = parameter(e.mode);
      e.alpha = p.start;
      fill(rows.get(key(e)), e);
      sendEdits();
    });
    own.on(remove, "click", () => {
      local = local.filter((e) => !(e.layer === edit.layer && e.head === edit.head));
      layout();
      sendEdits();
    });
    return { row, select, slider, value, own };
  }

  const key = (e) => `${e.layer},${e.head}`;
  const parameters = () => model.get("_parameters") ?? [];
  const parameter = (mode) => parameters().find((p) => p.mode === mode) ?? {};
  const defaultMode = () => parameters()[0] ?? {};
  const untouched = (e) => e.mode === defaultMode().mode && e.alpha === defaultMode().neutral;

  function fill(parts, edit) {
    const modes = model.get("_modes") ?? {};
    for (const option of parts.select.options) {
      const reason = modes[option.value];
      option.disabled = Boolean(reason);
      option.title = reason || "";
    }
    if (parts.select.value !== edit.mode) parts.select.value = edit.mode;
    const p = parameter(edit.mode);
    const sliding = Boolean(p.symbol);
    if (sliding) {
      parts.slider.min = String(p.low);
      parts.slider.max = String(p.high);
      parts.slider.step = String(p.step);
      const label = edit.mode === defaultMode().mode ? "alpha" : `${edit.mode} ${p.symbol}`;
      parts.slider.setAttribute("aria-label", `${label} of ${headName(edit.layer, edit.head)}`);
    }
    parts.slider.disabled = !sliding;
    // do not move a thumb the user is holding unless the value really changed
    if (Number(parts.slider.value) !== edit.alpha) parts.slider.value = String(edit.alpha);
    parts.value.textContent = sliding ? `${p.symbol} ${formatValue(edit.alpha, 3)}` : edit.mode;
    parts.row.classList.toggle("hw-edited", !untouched(edit) && !(sliding && edit.alpha === p.neutral));
  }

  /** Rows for `local`, reusing existing row elements (so a dragged slider keeps its thumb). */
  function layout() {
    const wanted = new Set(local.map(key));
    for (const [k, parts] of rows) {
      if (!wanted.has(k)) {
        parts.own.removeAll();
        parts.row.remove();
        rows.delete(k);
      }
    }
    const ordered = [];
    for (const edit of local) {
      let parts = rows.get(key(edit));
      if (!parts) {
        parts = makeRow(edit);
        rows.set(key(edit), parts);
      }
      fill(parts, edit);
      ordered.push(parts.row);
    }
    ordered.forEach((row, i) => {
      if (rowsEl.children[i] !== row) rowsEl.insertBefore(row, rowsEl.children[i] ?? null);
    });
    empty.hidden = local.length > 0;
    reset.disabled = local.every(untouched);
    root.dataset.edits = JSON.stringify(local);
  }

  /** Adopt Python's state, unless the user's newer values are still on their way. */
  const sync = batched(() => {
    if (coalescer.busy() || coalescer.pending()) return;
    // the response can overtake the trait update it follows (a custom message is handled at
    // once, a state update after deserialization), so prefer what the response carried
    local = clone(adopt ?? model.get("edits"));
    adopt = null;
    kInput.value = String(model.get("k"));
    seedInput.value = String(model.get("seed"));
    topk.disabled = !model.get("_has_cube");
    topk.title = model.get("_has_cube")
      ? "zero the k heads with the largest |value| in the cube"
      : "no cube to rank heads by";
    layout();
    showError();
  });
  ls.add(sync.cancel);

  ls.on(reset, "click", () => {
    for (const e of local) {
      e.mode = defaultMode().mode;
      e.alpha = defaultMode().start;
    }
    layout();
    sendEdits();
  });
  const readInt = (input, fallback) => {
    const v = Math.round(Number(input.value));
    return Number.isFinite(v) ? v : fallback;
  };
  ls.on(topk, "click", () => request({ action: "topk", k: readInt(kInput, model.get("k")) }));
  ls.on(randomk, "click", () =>
    request({ action: "random", k: readInt(kInput, model.get("k")), seed: readInt(seedInput, model.get("seed")) }),
  );
  for (const input of [kInput, seedInput]) {
    ls.on(input, "change", () => {
      // no clamping here: Python checks k when it is used and shows any error in the widget
      model.set("k", readInt(kInput, model.get("k")));
      model.set("seed", readInt(seedInput, model.get("seed")));
      model.save_changes();
    });
  }

  for (const name of ["edits", "_parameters", "k", "seed", "_modes", "_has_cube"]) {
    ls.model(model, `change:${name}`, sync);
  }
  ls.model(model, "change:error", showError);
  sync.now();

  return () => {
    ls.removeAll();
    root.remove();
  };
}

export default { render };
