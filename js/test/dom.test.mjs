import assert from "node:assert/strict";
import { test } from "node:test";
import { batched, listeners } from "../src/dom.mjs";

function fakeTarget() {
  const handlers = new Map();
  return {
    handlers,
    addEventListener(type, fn) {
      handlers.set(type, [...(handlers.get(type) ?? []), fn]);
    },
    removeEventListener(type, fn) {
      handlers.set(type, (handlers.get(type) ?? []).filter((f) => f !== fn));
    },
    on(event, fn) {
      this.addEventListener(event, fn);
    },
    off(event, fn) {
      this.removeEventListener(event, fn);
    },
    count() {
      return [...handlers.values()].reduce((n, list) => n + list.length, 0);
    },
  };
}

test("cleanup removes every listener that was added", () => {
  const button = fakeTarget();
  const model = fakeTarget();
  const ls = listeners();
  ls.on(button, "click", () => {});
  ls.on(button, "pointermove", () => {});
  ls.model(model, "change:selected", () => {});
  let disposed = false;
  ls.add(() => (disposed = true));
  assert.equal(button.count(), 2);
  assert.equal(model.count(), 1);
  ls.removeAll();
  assert.equal(button.count(), 0);
  assert.equal(model.count(), 0);
  assert.ok(disposed);
  assert.equal(ls.size(), 0);
});

test("one failing cleanup does not stop the others", () => {
  const ls = listeners();
  let ran = 0;
  ls.add(() => ran++);
  ls.add(() => {
    throw new Error("x");
  });
  ls.add(() => ran++);
  ls.removeAll();
  assert.equal(ran, 2);
});

test("batched runs once per microtask however often it is called", async () => {
  let runs = 0;
  const draw = batched(() => runs++);
  draw();
  draw();
  draw();
  assert.equal(runs, 0);
  await Promise.resolve();
  assert.equal(runs, 1);
  draw.now();
  assert.equal(runs, 2);
  draw();
  draw.cancel();
  await Promise.resolve();
  assert.equal(runs, 2);
});
