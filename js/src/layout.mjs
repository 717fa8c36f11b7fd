// Geometry of cell grids (the layer × head heatmap, the query × key pattern): sizes,
// hit-testing and rectangle selection. Pure functions, tested with `node --test`.
//
// Rows and columns are indices (0..rows-1, 0..cols-1). The head grid puts layers on rows and
// heads on columns; the attention pattern puts queries on rows and keys on columns.

/**
 * Layout of a rows × cols grid of square cells inside margins.
 *
 * @param {{rows: number, cols: number, maxWidth?: number, maxHeight?: number,
 *          minCell?: number, maxCell?: number, left?: number, top?: number,
 *          right?: number, bottom?: number}} opts
 * @returns {{rows, cols, cell, left, top, width, height, gridWidth, gridHeight}}
 *
 * Example: gridGeometry({rows: 2, cols: 4, maxWidth: 200}).cell  // 32 (capped by maxCell)
 */
export function gridGeometry({
  rows,
  cols,
  maxWidth = 420,
  maxHeight = 420,
  minCell = 4,
  maxCell = 32,
  left = 0,
  top = 0,
  right = 0,
  bottom = 0,
}) {
  if (!(rows > 0 && cols > 0)) {
    return { rows: 0, cols: 0, cell: 0, left, top, width: left + right, height: top + bottom, gridWidth: 0, gridHeight: 0 };
  }
  const fit = Math.min((maxWidth - left - right) / cols, (maxHeight - top - bottom) / rows);
  const cell = Math.max(minCell, Math.min(maxCell, Math.floor(fit)));
  const gridWidth = cell * cols;
  const gridHeight = cell * rows;
  return {
    rows,
    cols,
    cell,
    left,
    top,
    gridWidth,
    gridHeight,
    width: left + gridWidth + right,
    height: top + gridHeight + bottom,
  };
}

/** The {row, col} under point (x, y) in the grid's coordinates, or null outside the cells. */
export function cellAt(geom, x, y) {
  const cx = x - geom.left;
  const cy = y - geom.top;
  if (cx < 0 || cy < 0 || cx >= geom.gridWidth || cy >= geom.gridHeight) return null;
  return { row: Math.floor(cy / geom.cell), col: Math.floor(cx / geom.cell) };
}

/** Top-left corner and size of a cell, in the grid's coordinates. */
export function cellRect(geom, row, col) {
  return { x: geom.left + col * geom.cell, y: geom.top + row * geom.cell, size: geom.cell };
}

/** Center of a cell (what a test or a keyboard handler would "click"). */
export function cellCenter(geom, row, col) {
  const r = cellRect(geom, row, col);
  return { x: r.x + r.size / 2, y: r.y + r.size / 2 };
}

/**
 * Every cell touched by the rectangle spanned by two points (any corner order), as
 * [row, col] pairs in row-major order; points outside the grid are clamped to its edge.
 * Empty when the rectangle misses the grid entirely.
 */
export function cellsInRect(geom, x0, y0, x1, y1) {
  const xa = Math.min(x0, x1) - geom.left;
  const xb = Math.max(x0, x1) - geom.left;
  const ya = Math.min(y0, y1) - geom.top;
  const yb = Math.max(y0, y1) - geom.top;
  if (xb < 0 || yb < 0 || xa >= geom.gridWidth || ya >= geom.gridHeight) return [];
  const clampIdx = (v, n) => Math.max(0, Math.min(n - 1, Math.floor(v / geom.cell)));
  const c0 = clampIdx(xa, geom.cols);
  const c1 = clampIdx(xb, geom.cols);
  const r0 = clampIdx(ya, geom.rows);
  const r1 = clampIdx(yb, geom.rows);
  const out = [];
  for (let r = r0; r <= r1; r++) for (let c = c0; c <= c1; c++) out.push([r, c]);
  return out;
}

/** True when the pointer moved far enough (in px) between down and up to count as a drag. */
export function isDrag(x0, y0, x1, y1, threshold = 4) {
  return Math.abs(x1 - x0) >= threshold || Math.abs(y1 - y0) >= threshold;
}

// -- selections: lists of [row, col] pairs, no duplicates, kept in a stable order ------------

const key = ([r, c]) => `${r},${c}`;

/** Does the selection contain the cell? */
export function contains(selection, cell) {
  const k = key(cell);
  return selection.some((s) => key(s) === k);
}

/** Cells in `add` appended to `selection` (no duplicates), sorted row-major. */
export function union(selection, add) {
  const seen = new Map(selection.map((s) => [key(s), [s[0], s[1]]]));
  for (const cell of add) if (!seen.has(key(cell))) seen.set(key(cell), [cell[0], cell[1]]);
  return sortCells([...seen.values()]);
}

/** Row-major order. */
export function sortCells(cells) {
  return cells.slice().sort((a, b) => a[0] - b[0] || a[1] - b[1]);
}

/**
 * The selection after a click on `cell`.
 *
 * Plain click: just that cell (clicking the only selected cell clears the selection).
 * Shift-click: toggle that cell, keep the rest.
 */
export function applyClick(selection, cell, { shift = false } = {}) {
  const has = contains(selection, cell);
  if (shift) {
    return has ? selection.filter((s) => key(s) !== key(cell)) : union(selection, [cell]);
  }
  if (has && selection.length === 1) return [];
  return [[cell[0], cell[1]]];
}

/** The selection after dragging a rectangle over `cells`: replace, or add with shift. */
export function applyDrag(selection, cells, { shift = false } = {}) {
  return shift ? union(selection, cells) : sortCells(cells.map((c) => [c[0], c[1]]));
}

/** Same cells, same order? */
export function sameCells(a, b) {
  return a.length === b.length && a.every((c, i) => c[0] === b[i][0] && c[1] === b[i][1]);
}

/** Label every `step`-th row/column so labels of `labelPx` pixels do not overlap. */
export function labelStep(cell, labelPx = 12) {
  if (cell <= 0) return 1;
  return Math.max(1, Math.ceil(labelPx / cell));
}
