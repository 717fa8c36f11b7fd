import assert from "node:assert/strict";
import { test } from "node:test";
import {
  applyClick,
  applyDrag,
  cellAt,
  cellCenter,
  cellRect,
  cellsInRect,
  contains,
  gridGeometry,
  isDrag,
  labelStep,
  sameCells,
  union,
} from "../src/layout.mjs";

const geom = gridGeometry({ rows: 2, cols: 4, maxWidth: 1000, maxHeight: 1000, maxCell: 20, left: 30, top: 10 });

test("cells are square, capped and fit the margins", () => {
  assert.equal(geom.cell, 20);
  assert.equal(geom.gridWidth, 80);
  assert.equal(geom.width, 110);
  assert.equal(geom.height, 50);
  const small = gridGeometry({ rows: 100, cols: 100, maxWidth: 200, maxHeight: 200, minCell: 4 });
  assert.equal(small.cell, 4);
  const fit = gridGeometry({ rows: 12, cols: 12, maxWidth: 240, maxHeight: 400, maxCell: 32 });
  assert.equal(fit.cell, 20);
});

test("an empty grid has no cells", () => {
  const empty = gridGeometry({ rows: 0, cols: 5 });
  assert.equal(empty.cell, 0);
  assert.equal(cellAt(empty, 1, 1), null);
});

test("hit testing maps points to the cell under them", () => {
  assert.deepEqual(cellAt(geom, 30, 10), { row: 0, col: 0 });
  assert.deepEqual(cellAt(geom, 49.9, 29.9), { row: 0, col: 0 });
  assert.deepEqual(cellAt(geom, 50, 30), { row: 1, col: 1 });
  assert.deepEqual(cellAt(geom, 109, 49), { row: 1, col: 3 });
});

test("points in the margins or past the grid hit nothing", () => {
  assert.equal(cellAt(geom, 29, 15), null);
  assert.equal(cellAt(geom, 40, 9), null);
  assert.equal(cellAt(geom, 110, 20), null);
  assert.equal(cellAt(geom, 40, 50), null);
});

test("cell centers hit their own cell", () => {
  for (let r = 0; r < 2; r++) {
    for (let c = 0; c < 4; c++) {
      const { x, y } = cellCenter(geom, r, c);
      assert.deepEqual(cellAt(geom, x, y), { row: r, col: c });
    }
  }
  assert.deepEqual(cellRect(geom, 1, 2), { x: 70, y: 30, size: 20 });
});

test("a drag rectangle selects every cell it touches, in any direction", () => {
  const forward = cellsInRect(geom, 35, 15, 75, 35);
  const backward = cellsInRect(geom, 75, 35, 35, 15);
  assert.deepEqual(forward, [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]);
  assert.deepEqual(backward, forward);
});

test("a drag rectangle is clamped to the grid and empty when it misses it", () => {
  assert.deepEqual(cellsInRect(geom, 0, 0, 45, 15), [[0, 0]]);
  assert.equal(cellsInRect(geom, 0, 0, 1000, 1000).length, 8);
  assert.deepEqual(cellsInRect(geom, 0, 0, 20, 5), []);
  assert.deepEqual(cellsInRect(geom, 200, 0, 300, 100), []);
});

test("tiny pointer movements are clicks, not drags", () => {
  assert.equal(isDrag(10, 10, 12, 11), false);
  assert.equal(isDrag(10, 10, 15, 10), true);
});

test("click selects one head and clicking the only selected head clears", () => {
  assert.deepEqual(applyClick([[0, 1], [1, 2]], [1, 3]), [[1, 3]]);
  assert.deepEqual(applyClick([[1, 3]], [1, 3]), []);
  assert.deepEqual(applyClick([[0, 1], [1, 3]], [1, 3]), [[1, 3]]);
});

test("shift-click toggles one head and keeps the others", () => {
  assert.deepEqual(applyClick([[0, 1]], [1, 3], { shift: true }), [[0, 1], [1, 3]]);
  assert.deepEqual(applyClick([[0, 1], [1, 3]], [0, 1], { shift: true }), [[1, 3]]);
});

test("drag replaces the selection and shift-drag adds to it without duplicates", () => {
  assert.deepEqual(applyDrag([[0, 0]], [[1, 1], [1, 2]]), [[1, 1], [1, 2]]);
  assert.deepEqual(applyDrag([[1, 1], [0, 3]], [[1, 1], [1, 2]], { shift: true }), [[0, 3], [1, 1], [1, 2]]);
});

test("selection helpers compare by value", () => {
  assert.ok(contains([[1, 2]], [1, 2]));
  assert.ok(!contains([[1, 2]], [2, 1]));
  assert.deepEqual(union([[1, 1]], [[0, 0], [1, 1]]), [[0, 0], [1, 1]]);
  assert.ok(sameCells([[1, 2]], [[1, 2]]));
  assert.ok(!sameCells([[1, 2]], [[1, 2], [0, 0]]));
});

test("labels thin out when cells get small", () => {
  assert.equal(labelStep(20, 12), 1);
  assert.equal(labelStep(5, 12), 3);
  assert.equal(labelStep(0), 1);
});
