// OutputView: the prompt's tokens, next-token top-k, greedy generation and metrics, for the
// baseline (no edits) and the intervened model side by side.
//
// Traits (see headwidgets/widgets/outputview.py):
//   prompt, error, and _result = {
//     tokens: [str],  scores: float32 (T,) | null,  scores_label: str,
//     topk: {baseline: {tokens, probs}, intervened: {tokens, probs, baseline_probs}},
//     generation_key: the intervention's JSON (null: no generation),
//     metrics: [{name, label, units, baseline, intervened}],
//     intervention: str (summary), ms: Python compute time, request: {id, t0, origin} | null }
//   _generation = {key, baseline: [str], intervened: [str], baseline_ids, intervened_ids}
//     sent after _result (generation is the slow part); shown as "updating…" until its key
//     matches _result.generation_key.
// Token text is untrusted: it only ever reaches the page through textContent.
import { toFloat32Array } from "./binary.mjs";
import { makeScale, rgbCss, textColor } from "./colors.mjs";
import { batched, h, listeners } from "./dom.mjs";
import { formatDelta, formatMs, formatProb, formatValue, inlineToken, visibleToken } from "./format.mjs";

function render({ model, el }) {
  const ls = listeners();
  const root = h("div", { class: "hw-widget hw-outputview", dataset: { version: 0 } });
  el.append(root);
  let measured = null; // {id, t0, ms} of the last request whose result was drawn

  const draw = batched(() => {
    const result = model.get("_result") ?? {};
    const error = model.get("error") ?? "";
    try {
      root.replaceChildren(
        ...[
          promptSection(result, model.get("prompt") ?? ""),
          topkSection(result.topk),
          generationSection(model.get("_generation"), result.generation_key, result.tokens_spaced),
          metricsSection(result.metrics),
          statusSection(result),
        ].filter(Boolean),
      );
    } catch (err) {
      root.replaceChildren(h("div", { class: "hw-error", text: `cannot show the outputs: ${err.message}` }));
    }
    if (error) root.append(h("div", { class: "hw-error", text: error, attrs: { role: "alert" } }));
    root.dataset.version = String(Number(root.dataset.version) + 1);
    if (typeof result.ms === "number") root.dataset.modelMs = result.ms.toFixed(3);
    const request = result.request;
    if (request && request.id !== undefined) root.dataset.request = String(request.id);
    // end-to-end refresh time: control event (t0, same page) → the first DOM update that
    // shows its result (later redraws, e.g. when the generation arrives, keep that number)
    if (request && request.origin === performance.timeOrigin && typeof request.t0 === "number") {
      if (measured?.id !== request.id || measured?.t0 !== request.t0) {
        measured = { id: request.id, t0: request.t0, ms: performance.now() - request.t0 };
        root.dataset.refreshMs = measured.ms.toFixed(2);
      }
      const refresh = root.querySelector(".hw-refresh");
      if (refresh) refresh.textContent = `refresh ${formatMs(measured.ms)}`;
    }
  });
  for (const name of ["_result", "_generation", "error", "prompt"]) ls.model(model, `change:${name}`, draw);
  ls.add(draw.cancel);
  draw.now();

  return () => {
    ls.removeAll();
    root.remove();
  };
}

function section(title, children, cls = "") {
  return h("section", { class: `hw-section ${cls}` }, [h("div", { class: "hw-section-title", text: title }), ...children]);
}

function promptSection(result, prompt) {
  const tokens = result.tokens ?? [];
  const strip = h("div", {
    class: `hw-tokens${result.tokens_spaced ? " hw-spaced" : ""}`,
    attrs: { "aria-label": "prompt tokens" },
  });
  let scale = null;
  let scores = null;
  if (result.scores) {
    scores = toFloat32Array(result.scores);
    if (scores.length !== tokens.length) scores = null;
    else scale = makeScale(scores, { kind: "diverging" });
  }
  tokens.forEach((token, i) => {
    const span = h("span", { class: "hw-token", text: inlineToken(token), dataset: { index: i } });
    const v = scores ? scores[i] : NaN;
    if (scale && Number.isFinite(v)) {
      const rgb = scale.color(v);
      span.style.background = rgbCss(rgb);
      span.style.color = textColor(rgb);
      span.title = `${i}: ${visibleToken(token)}  ${result.scores_label || "score"} ${formatValue(v)}`;
    } else {
      span.title = `${i}: ${visibleToken(token)}`;
    }
    strip.append(span);
  });
  const label = scores ? `tokens · colored by ${result.scores_label || "score"}` : "tokens";
  return h("section", { class: "hw-section hw-prompt" }, [
    h("div", { class: "hw-section-title", text: "prompt" }),
    h("div", { class: "hw-prompt-text", text: prompt }),
    h("div", { class: "hw-section-title hw-subtitle", text: `${label} (${tokens.length})` }),
    strip,
  ]);
}

function topkTable(part, withDelta) {
  const probs = toFloat32Array(part?.probs);
  const base = withDelta ? toFloat32Array(part?.baseline_probs) : null;
  const max = probs.length ? Math.max(...probs) : 1;
  const rows = (part?.tokens ?? []).map((token, i) => {
    const p = probs[i];
    const bar = h("span", { class: "hw-bar", style: { width: `${Math.max(0, (p / (max || 1)) * 100)}%` } });
    const cells = [
      h("td", { class: "hw-rank", text: String(i + 1) }),
      h("td", { class: "hw-tok", text: visibleToken(token), title: JSON.stringify(token) }),
      h("td", { class: "hw-prob", dataset: { prob: String(p) } }, [h("span", { class: "hw-bar-wrap" }, [bar]), h("span", { class: "hw-prob-text", text: formatProb(p) })]),
    ];
    if (withDelta && base && base.length === probs.length) {
      const d = p - base[i];
      cells.push(h("td", { class: `hw-delta ${d > 0 ? "hw-up" : d < 0 ? "hw-down" : ""}`, text: formatDelta(d * 100, 2) + " pp", title: `baseline ${formatProb(base[i])}` }));
    }
    return h("tr", { dataset: { token: token } }, cells);
  });
  return h("table", { class: "hw-table hw-topk-table" }, [h("tbody", {}, rows)]);
}

function topkSection(topk) {
  if (!topk) return null;
  return section("next token", [
    h("div", { class: "hw-columns" }, [
      h("div", { class: "hw-column hw-baseline" }, [h("div", { class: "hw-column-title", text: "baseline" }), topkTable(topk.baseline, false)]),
      h("div", { class: "hw-column hw-intervened" }, [h("div", { class: "hw-column-title", text: "intervened" }), topkTable(topk.intervened, true)]),
    ]),
  ], "hw-topk");
}

function generationSection(gen, key, spaced) {
  if (key === null || key === undefined) return null;
  const current = Boolean(gen && gen.key === key);
  const line = (label, tokens, ids, other) => {
    const spans = (tokens ?? []).map((token, i) => {
      const differs = ids && other && ids[i] !== other[i];
      return h("span", {
        class: `hw-gen-token${differs ? " hw-diff" : ""}`,
        text: inlineToken(token),
        title: differs ? "differs from the other run" : null,
      });
    });
    return h("div", { class: "hw-gen-line" }, [h("span", { class: "hw-gen-label", text: label }), h("span", { class: `hw-gen-text${spaced ? " hw-spaced" : ""}` }, spans)]);
  };
  const n = gen?.baseline?.length ?? 0;
  const title = `greedy continuation (${n} tokens)${current ? "" : " · updating…"}`;
  const box = section(title, gen ? [
    line("baseline", gen.baseline, gen.baseline_ids, gen.intervened_ids),
    line("intervened", gen.intervened, gen.intervened_ids, gen.baseline_ids),
  ] : [], `hw-generation${current ? "" : " hw-stale"}`);
  box.dataset.current = String(current);
  return box;
}

function metricsSection(metrics) {
  if (!metrics || !metrics.length) return null;
  const head = h("tr", {}, ["metric", "baseline", "intervened", "Δ"].map((t) => h("th", { text: t })));
  const rows = metrics.map((m) => {
    const d = m.intervened !== null && m.baseline !== null ? m.intervened - m.baseline : null;
    return h("tr", { dataset: { metric: m.name } }, [
      h("td", { class: "hw-metric-name", text: m.label, title: m.units || "" }),
      h("td", { text: formatValue(m.baseline), dataset: { value: String(m.baseline) } }),
      h("td", { text: formatValue(m.intervened), dataset: { value: String(m.intervened) } }),
      h("td", { class: `hw-delta ${d > 0 ? "hw-up" : d < 0 ? "hw-down" : ""}`, text: formatDelta(d) }),
    ]);
  });
  return section("metrics", [h("table", { class: "hw-table hw-metrics" }, [h("thead", {}, [head]), h("tbody", {}, rows)])], "hw-metrics-section");
}

function statusSection(result) {
  const parts = [h("span", { class: "hw-intervention", text: result.intervention ? `intervention: ${result.intervention}` : "no intervention" })];
  if (typeof result.ms === "number") parts.push(h("span", { class: "hw-model-ms", text: `model ${formatMs(result.ms)}` }));
  parts.push(h("span", { class: "hw-refresh" }));
  return h("div", { class: "hw-status" }, parts);
}

export default { render };
