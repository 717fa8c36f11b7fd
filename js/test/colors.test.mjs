import assert from "node:assert/strict";
import { test } from "node:test";
import {
  DIVERGING,
  NAN_COLOR,
  VIRIDIS,
  chooseKind,
  finiteExtent,
  interpolate,
  luminance,
  makeScale,
  textColor,
  ticks,
} from "../src/colors.mjs";

test("interpolate hits the end stops and clamps outside [0, 1]", () => {
  assert.deepEqual(interpolate(VIRIDIS, 0), VIRIDIS[0]);
  assert.deepEqual(interpolate(VIRIDIS, 1), VIRIDIS.at(-1));
  assert.deepEqual(interpolate(VIRIDIS, -3), VIRIDIS[0]);
  assert.deepEqual(interpolate(VIRIDIS, 7), VIRIDIS.at(-1));
});

test("nan does not poison the color scale", () => {
  const scale = makeScale([0, NaN, 2, Infinity, -Infinity], { kind: "sequential" });
  assert.deepEqual(scale.domain, [0, 2]);
  assert.deepEqual(scale.color(NaN), NAN_COLOR);
  assert.deepEqual(scale.color(Infinity), NAN_COLOR);
  assert.deepEqual(scale.color(2), VIRIDIS.at(-1));
});

test("auto picks diverging only when values have both signs", () => {
  assert.equal(chooseKind([-1, 2]), "diverging");
  assert.equal(chooseKind([0, 2]), "sequential");
  assert.equal(chooseKind([-3, -1]), "sequential");
  assert.equal(chooseKind([NaN]), "sequential");
  assert.equal(makeScale([-1, 2]).kind, "diverging");
});

test("diverging scale is symmetric and maps zero to the white middle", () => {
  const scale = makeScale([-1, 3], { kind: "diverging" });
  assert.deepEqual(scale.domain, [-3, 3]);
  assert.deepEqual(scale.color(0), DIVERGING[5]);
  assert.deepEqual(scale.color(-3), DIVERGING[0]);
  assert.deepEqual(scale.color(3), DIVERGING.at(-1));
});

test("diverging scale keeps zero white with asymmetric vmin and vmax", () => {
  const scale = makeScale([0], { kind: "diverging", vmin: -1, vmax: 4 });
  assert.deepEqual(scale.domain, [-1, 4]);
  assert.deepEqual(scale.color(0), DIVERGING[5]);
  assert.equal(scale.t(-1), 0);
  assert.equal(scale.t(4), 1);
});

test("vmin and vmax override the data domain", () => {
  const scale = makeScale([0, 10], { kind: "sequential", vmin: 2, vmax: 4 });
  assert.deepEqual(scale.domain, [2, 4]);
  assert.deepEqual(scale.color(10), VIRIDIS.at(-1));
});

test("a constant cube gets a usable domain instead of dividing by zero", () => {
  const seq = makeScale([5, 5], { kind: "sequential" });
  assert.ok(seq.domain[0] < 5 && seq.domain[1] > 5);
  assert.ok(Number.isFinite(seq.t(5)));
  const div = makeScale([0, 0], { kind: "diverging" });
  assert.deepEqual(div.domain, [-1, 1]);
  const none = makeScale([], { kind: "auto" });
  assert.deepEqual(none.domain, [0, 1]);
});

test("an unknown scale kind is an error naming the choices", () => {
  assert.throws(() => makeScale([1], { kind: "rainbow" }), /auto, sequential or diverging/);
});

test("finite extent ignores non-finite values", () => {
  assert.deepEqual(finiteExtent([NaN, 3, -2, Infinity]), [-2, 3]);
  assert.equal(finiteExtent([NaN]), null);
});

test("text color contrasts with the background", () => {
  assert.equal(textColor([0, 0, 0]), "#fff");
  assert.equal(textColor([255, 255, 255]), "#000");
  assert.equal(textColor(VIRIDIS[0]), "#fff");
  assert.equal(textColor(VIRIDIS.at(-1)), "#000");
  assert.ok(luminance([255, 255, 255]) > 0.99);
});

test("ticks are round numbers inside the domain", () => {
  assert.deepEqual(ticks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(ticks(-3, 3, 4), [-2, 0, 2]);
  const t = ticks(-0.37, 0.81, 4);
  assert.ok(t.every((v) => v >= -0.37 && v <= 0.81));
  assert.ok(t.includes(0));
  assert.deepEqual(ticks(2, 2), [2]);
  assert.deepEqual(ticks(NaN, 1), []);
});
