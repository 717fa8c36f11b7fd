import assert from "node:assert/strict";
import { test } from "node:test";
import { formatDelta, formatMs, formatProb, formatValue, headName, inlineToken, visibleToken } from "../src/format.mjs";

test("values keep four significant digits and show missing ones", () => {
  assert.equal(formatValue(0.123456), "0.1235");
  assert.equal(formatValue(-2.5), "−2.5");
  assert.equal(formatValue(0), "0");
  assert.equal(formatValue(NaN), "NaN");
  assert.equal(formatValue(null), "–");
  assert.equal(formatValue(Infinity), "∞");
  assert.equal(formatValue(1e-6), "1e−6");
  assert.equal(formatValue(-2.5e7), "−2.5e7");
});

test("deltas carry a sign", () => {
  assert.equal(formatDelta(0.5), "+0.5");
  assert.equal(formatDelta(-0.25), "−0.25");
  assert.equal(formatDelta(0), "±0");
  assert.equal(formatDelta(null), "–");
});

test("probabilities are percentages with two decimals", () => {
  assert.equal(formatProb(0.12345), "12.35%");
  assert.equal(formatProb(1), "100.00%");
  assert.equal(formatProb(NaN), "–");
});

test("times switch from ms to s", () => {
  assert.equal(formatMs(3.21), "3.2 ms");
  assert.equal(formatMs(42.4), "42 ms");
  assert.equal(formatMs(1234), "1.23 s");
});

test("whitespace in tokens is made visible but markup stays plain text", () => {
  assert.equal(visibleToken(" Mary"), "␣Mary");
  assert.equal(visibleToken("\n"), "↵");
  assert.equal(visibleToken(""), "∅");
  assert.equal(visibleToken("<img src=x onerror=alert(1)>"), "<img␣src=x␣onerror=alert(1)>");
  assert.equal(inlineToken("a\nb"), "a↵\nb");
  assert.equal(headName(1, 2), "L1 H2");
});
