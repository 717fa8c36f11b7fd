// Number and token formatting shared by the widgets. Pure functions.

/** A number with `digits` significant digits; "NaN"/"∞" for non-finite values. */
export function formatValue(v, digits = 4) {
  if (v === null || v === undefined) return "–";
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "−∞";
  if (v === 0) return "0";
  const a = Math.abs(v);
  let body;
  if (a >= 1e5 || a < 1e-3) {
    const [mantissa, exponent] = a.toExponential(digits - 1).split("e");
    body = `${Number(mantissa)}e${exponent.replace("+", "").replace("-", "−")}`;
  } else {
    body = Number(a.toPrecision(digits)).toString();
  }
  return v < 0 ? `−${body}` : body;
}

/** A signed difference: "+0.123", "−0.05", "±0". */
export function formatDelta(d, digits = 3) {
  if (d === null || d === undefined || Number.isNaN(d)) return "–";
  if (d === 0) return "±0";
  const body = formatValue(Math.abs(d), digits);
  return `${d > 0 ? "+" : "−"}${body}`;
}

/** A probability as a percentage with 2 decimals: 0.12345 → "12.35%". */
export function formatProb(p) {
  if (p === null || p === undefined || !Number.isFinite(p)) return "–";
  return `${(p * 100).toFixed(2)}%`;
}

/** Milliseconds: 3.2 → "3.2 ms", 1234 → "1.23 s". */
export function formatMs(ms) {
  if (!Number.isFinite(ms)) return "–";
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  return `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
}

/**
 * Token text made visible for lists: spaces as "␣", newlines as "↵", tabs as "⇥", the empty
 * string as "∅". The result is still plain text (render it with textContent).
 */
export function visibleToken(token) {
  const s = String(token ?? "");
  if (s === "") return "∅";
  return s.replace(/ /g, "␣").replace(/\n/g, "↵").replace(/\t/g, "⇥").replace(/\r/g, "␍");
}

/** Token text for running text: keep spaces, show line breaks as "↵" (plus the break). */
export function inlineToken(token) {
  return String(token ?? "").replace(/\r?\n/g, "↵\n");
}

/** "L1 H2" — the short name of a head (layer, head). */
export function headName(layer, head) {
  return `L${layer} H${head}`;
}
