import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeTensor, size, toFloat32Array } from "../src/binary.mjs";

const bytesOf = (values) => new Uint8Array(new Float32Array(values).buffer);

test("a DataView from ipywidgets decodes to the float32 values", () => {
  const bytes = bytesOf([1.5, -2, 3.25]);
  const view = new DataView(bytes.buffer);
  assert.deepEqual(Array.from(toFloat32Array(view)), [1.5, -2, 3.25]);
});

test("an unaligned view is copied instead of failing", () => {
  const src = bytesOf([0.5, 7]);
  const padded = new Uint8Array(src.length + 1);
  padded.set(src, 1);
  const view = new DataView(padded.buffer, 1, src.length);
  assert.deepEqual(Array.from(toFloat32Array(view)), [0.5, 7]);
});

test("an ArrayBuffer, a Uint8Array and null are accepted", () => {
  const bytes = bytesOf([4]);
  assert.deepEqual(Array.from(toFloat32Array(bytes.buffer)), [4]);
  assert.deepEqual(Array.from(toFloat32Array(bytes)), [4]);
  assert.equal(toFloat32Array(null).length, 0);
});

test("a byte count that is not a multiple of 4 is an error", () => {
  assert.throws(() => toFloat32Array(new Uint8Array(5)), /multiple of 4 bytes, got 5/);
  assert.throws(() => toFloat32Array("abc"), /expected binary data/);
});

test("decodeTensor indexes in C order", () => {
  const t = decodeTensor(bytesOf([0, 1, 2, 3, 4, 5]), [2, 3]);
  assert.equal(t.get(0, 0), 0);
  assert.equal(t.get(1, 0), 3);
  assert.equal(t.get(1, 2), 5);
  assert.deepEqual(t.strides, [3, 1]);
});

test("decodeTensor slices a leading index (one head's pattern)", () => {
  const t = decodeTensor(bytesOf([...Array(8).keys()]), [2, 2, 2]);
  assert.deepEqual(Array.from(t.slice(1)), [4, 5, 6, 7]);
  assert.deepEqual(Array.from(t.slice(1, 0)), [4, 5]);
  assert.throws(() => t.slice(2), RangeError);
});

test("a shape that does not match the buffer names both counts", () => {
  assert.throws(() => decodeTensor(bytesOf([1, 2, 3]), [2, 2]), /holds 3 values but shape \[2,2\] needs 4/);
  assert.throws(() => decodeTensor(bytesOf([1]), [1.5]), /non-negative integers/);
});

test("out-of-range indices are errors, not undefined", () => {
  const t = decodeTensor(bytesOf([1, 2]), [1, 2]);
  assert.throws(() => t.get(0, 2), /out of range for dim 1 of size 2/);
  assert.throws(() => t.get(0), /index has 1 dims, tensor has 2/);
});

test("empty tensors and scalars have the right size", () => {
  assert.equal(size([]), 1);
  assert.equal(size([0, 4]), 0);
  assert.equal(decodeTensor(new Uint8Array(0), [0, 3]).data.length, 0);
});
