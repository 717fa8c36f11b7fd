import assert from "node:assert/strict";
import { test } from "node:test";
import { cellPath, isPath, pathCell, pathName, samePath, togglePath } from "../src/paths.mjs";

const values = [
  [0.5, -1.0],
  [Number.NaN, 2.0],
];
const state = {
  senders: [
    [0, 0],
    [0, 1],
  ],
  receivers: ["1.0", "1.1"],
  input: "k",
  value: (r, c) => values[r][c],
};

test("a cell names its path; NaN cells and outside cells name none", () => {
  assert.deepEqual(cellPath(state, 0, 1), { sender: [0, 0], receiver: "1.1", input: "k" });
  assert.equal(cellPath(state, 1, 0), null);
  assert.equal(cellPath(state, 2, 0), null);
  assert.equal(cellPath(state, 0, -1), null);
});

test("clicking the patched path again clears it; another path replaces it", () => {
  const a = cellPath(state, 0, 0);
  const b = cellPath(state, 1, 1);
  assert.equal(togglePath({}, a), a);
  assert.equal(togglePath(a, { ...a, sender: [...a.sender] }), null);
  assert.equal(togglePath(a, b), b);
  assert.equal(togglePath(a, null), null);
});

test("same path compares every field; empty paths are equal", () => {
  const a = { sender: [0, 1], receiver: "1.0", input: "k" };
  assert.ok(samePath(a, { sender: [0, 1], receiver: "1.0", input: "k" }));
  assert.ok(!samePath(a, { ...a, input: "q" }));
  assert.ok(!samePath(a, { ...a, sender: [0, 2] }));
  assert.ok(samePath({}, null));
  assert.ok(!samePath(a, {}));
  assert.ok(!isPath({}) && isPath(a));
});

test("the patched path's cell in the matrix shown, none for another input", () => {
  const path = { sender: [0, 1], receiver: "1.1", input: "k" };
  assert.deepEqual(pathCell(state, path), { row: 1, col: 1 });
  assert.equal(pathCell(state, { ...path, input: "q" }), null);
  assert.equal(pathCell(state, { ...path, receiver: "2.0" }), null);
  assert.equal(pathCell(state, {}), null);
});

test("names: receiver input or the direct path", () => {
  assert.equal(pathName({ sender: [0, 1], receiver: "1.0", input: "k" }), "0.1 → k of 1.0");
  assert.equal(pathName({ sender: [2, 3], receiver: "logits", input: "logits" }), "2.3 → logits");
  assert.equal(pathName({}), "");
});
