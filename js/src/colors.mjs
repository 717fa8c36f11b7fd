// Color scales for heatmaps: sequential (viridis) and diverging (blue–white–red around 0).
//
// Pure functions, no DOM: everything here is unit tested with `node --test`.
// A scale maps a number to an [r, g, b] triple (0–255). NaN and ±Infinity never move
// the domain and are drawn in a neutral grey, so one bad cell cannot wash out the grid.

/** Viridis, sampled at 9 stops (matplotlib's values). */
export const VIRIDIS = [
  [68, 1, 84],
  [71, 44, 122],
  [59, 81, 139],
  [44, 113, 142],
  [33, 144, 141],
  [39, 173, 129],
  [92, 200, 99],
  [170, 220, 50],
  [253, 231, 37],
];

/** Blue → white → red (ColorBrewer RdBu, reversed so that negative is blue). */
export const DIVERGING = [
  [5, 48, 97],
  [33, 102, 172],
  [67, 147, 195],
  [146, 197, 222],
  [209, 229, 240],
  [247, 247, 247],
  [253, 219, 199],
  [244, 165, 130],
  [214, 96, 77],
  [178, 24, 43],
  [103, 0, 31],
];

/** Color of missing values (NaN, ±Infinity). */
export const NAN_COLOR = [190, 190, 190];

/** Linear interpolation in a list of RGB stops; t is clamped to [0, 1]. */
export function interpolate(stops, t) {
  if (!Number.isFinite(t)) return NAN_COLOR.slice();
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const a = stops[i];
  const b = stops[i + 1];
  return [0, 1, 2].map((c) => Math.round(a[c] + (b[c] - a[c]) * f));
}

/** Min and max of the finite values (null when there are none). */
export function finiteExtent(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (Number.isFinite(v)) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return lo <= hi ? [lo, hi] : null;
}

/** "diverging" when the finite values have both signs, else "sequential". */
export function chooseKind(values) {
  const ext = finiteExtent(values);
  return ext && ext[0] < 0 && ext[1] > 0 ? "diverging" : "sequential";
}

/**
 * Build a color scale.
 *
 * @param {Iterable<number>} values  data that sets the domain when vmin/vmax are not given
 * @param {{kind?: "auto"|"sequential"|"diverging", vmin?: number|null, vmax?: number|null}} opts
 * @returns {{kind: string, domain: [number, number], color: (v: number) => number[],
 *            css: (v: number) => string, t: (v: number) => number}}
 *
 * Example: makeScale([-2, 1], {kind: "auto"}).domain  // [-2, 2], diverging around 0
 */
export function makeScale(values, { kind = "auto", vmin = null, vmax = null } = {}) {
  const list = Array.from(values ?? []);
  const resolved = kind === "auto" ? chooseKind(list) : kind;
  if (resolved !== "sequential" && resolved !== "diverging") {
    throw new Error(`unknown color scale ${JSON.stringify(kind)}; expected auto, sequential or diverging`);
  }
  const ext = finiteExtent(list) ?? [0, 1];
  let lo;
  let hi;
  if (resolved === "diverging") {
    const m = Math.max(Math.abs(ext[0]), Math.abs(ext[1]));
    lo = -m;
    hi = m;
  } else {
    [lo, hi] = ext;
  }
  if (isFiniteNumber(vmin)) lo = vmin;
  if (isFiniteNumber(vmax)) hi = vmax;
  if (!(hi > lo)) {
    // a constant cube: widen so every value lands mid-scale instead of dividing by zero
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.5 : 1;
    if (resolved === "diverging" && lo === 0) {
      lo = -1;
      hi = 1;
    } else {
      lo -= pad;
      hi += pad;
    }
  }
  const stops = resolved === "diverging" ? DIVERGING : VIRIDIS;
  const center = resolved === "diverging" && lo < 0 && hi > 0 ? 0 : (lo + hi) / 2;
  // piecewise linear so that 0 sits at the middle (white) of a diverging scale even when
  // vmin/vmax are not symmetric
  const t = (v) => {
    if (!Number.isFinite(v)) return NaN;
    if (resolved === "diverging") {
      return v < center ? 0.5 * (v - lo) / (center - lo) : 0.5 + 0.5 * (v - center) / (hi - center);
    }
    return (v - lo) / (hi - lo);
  };
  const color = (v) => interpolate(stops, t(v));
  const css = (v) => rgbCss(color(v));
  return { kind: resolved, domain: [lo, hi], color, css, t };
}

function isFiniteNumber(v) {
  return typeof v === "number" && Number.isFinite(v);
}

/** "rgb(r, g, b)" */
export function rgbCss([r, g, b]) {
  return `rgb(${r}, ${g}, ${b})`;
}

/** Relative luminance (WCAG) of an RGB triple, 0 (black) … 1 (white). */
export function luminance([r, g, b]) {
  const lin = (c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

/** Black or white, whichever reads better on the background color. */
export function textColor(rgb) {
  return luminance(rgb) > 0.179 ? "#000" : "#fff";
}

/**
 * About `count` round tick values covering [lo, hi] (always including both ends' neighbours).
 *
 * Example: ticks(0, 1, 5)  // [0, 0.2, 0.4, 0.6, 0.8, 1]
 */
export function ticks(lo, hi, count = 5) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || hi < lo) return [];
  if (hi === lo) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out = [];
  const first = Math.ceil(lo / step - 1e-9) * step;
  for (let v = first; v <= hi + step * 1e-9; v += step) {
    out.push(Number((Math.abs(v) < step * 1e-9 ? 0 : v).toPrecision(12)));
  }
  return out;
}
