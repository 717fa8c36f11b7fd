import assert from "node:assert/strict";
import { test } from "node:test";
import { createCoalescer, createRpc } from "../src/coalesce.mjs";

/** A transport whose requests resolve only when the test says so. */
function manualTransport() {
  const calls = [];
  const send = (value, id) =>
    new Promise((resolve, reject) => {
      calls.push({ value, id, resolve, reject });
    });
  return { calls, send };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

test("an idle coalescer sends at once", async () => {
  const t = manualTransport();
  const c = createCoalescer(t.send);
  c.push(1);
  assert.equal(t.calls.length, 1);
  assert.equal(t.calls[0].value, 1);
  assert.ok(c.busy());
});

test("at most one request is in flight and the newest pending value wins", async () => {
  const t = manualTransport();
  const results = [];
  const c = createCoalescer(t.send, { onResult: (r, v) => results.push(v) });
  for (let v = 0; v < 50; v++) c.push(v);
  assert.equal(t.calls.length, 1, "only the first value goes out while it is in flight");
  assert.equal(c.stats.replaced, 48);
  t.calls[0].resolve("ok");
  await flush();
  assert.equal(t.calls.length, 2);
  assert.equal(t.calls[1].value, 49, "the final value is sent next, stale ones are dropped");
  t.calls[1].resolve("ok");
  await flush();
  assert.deepEqual(results, [0, 49]);
  assert.ok(!c.busy() && !c.pending());
});

test("the last request sent always carries the final value (random interleavings)", async () => {
  for (let trial = 0; trial < 200; trial++) {
    const t = manualTransport();
    const c = createCoalescer(t.send);
    let last = null;
    let rng = trial + 1;
    const rand = () => ((rng = (rng * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let step = 0; step < 40; step++) {
      if (rand() < 0.6) {
        last = step;
        c.push(step);
      } else {
        const open = t.calls.filter((call) => !call.done);
        if (open.length) {
          open[0].done = true;
          open[0].resolve(null);
          await flush();
        }
      }
      assert.ok(t.calls.filter((call) => !call.done).length <= 1, "never two in flight");
    }
    // drain
    for (;;) {
      const open = t.calls.filter((call) => !call.done);
      if (!open.length) break;
      open[0].done = true;
      open[0].resolve(null);
      await flush();
    }
    if (last !== null) assert.equal(t.calls.at(-1).value, last);
  }
});

test("a failed request reports the error and still sends the pending value", async () => {
  const t = manualTransport();
  const errors = [];
  const c = createCoalescer(t.send, { onError: (e) => errors.push(e.message) });
  c.push("a");
  c.push("b");
  t.calls[0].reject(new Error("boom"));
  await flush();
  assert.deepEqual(errors, ["boom"]);
  assert.equal(t.calls[1].value, "b");
});

test("a send that throws synchronously counts as a failed request", async () => {
  const errors = [];
  const c = createCoalescer(() => {
    throw new Error("closed comm");
  }, { onError: (e) => errors.push(e.message) });
  c.push(1);
  await flush();
  assert.deepEqual(errors, ["closed comm"]);
  assert.ok(!c.busy());
});

test("onIdle fires when the last request settles and nothing is pending", async () => {
  const t = manualTransport();
  let idle = 0;
  const c = createCoalescer(t.send, { onIdle: () => idle++ });
  c.push(1);
  c.push(2);
  t.calls[0].resolve();
  await flush();
  assert.equal(idle, 0);
  t.calls[1].resolve();
  await flush();
  assert.equal(idle, 1);
});

test("the measured time spans push to result", async () => {
  const t = manualTransport();
  let clock = 100;
  let measured = null;
  const c = createCoalescer(t.send, { now: () => clock, onResult: (r, v, id, ms) => (measured = ms) });
  c.push(1);
  clock = 142;
  t.calls[0].resolve();
  await flush();
  assert.equal(measured, 42);
});

test("a disposed coalescer ignores late answers and new values", async () => {
  const t = manualTransport();
  let results = 0;
  const c = createCoalescer(t.send, { onResult: () => results++ });
  c.push(1);
  c.push(2);
  c.dispose();
  t.calls[0].resolve();
  await flush();
  assert.equal(results, 0);
  assert.equal(c.push(3), 0);
  assert.equal(t.calls.length, 1);
});

test("rpc matches responses to requests by id", async () => {
  const sent = [];
  const rpc = createRpc((msg) => sent.push(msg));
  const a = rpc.request({ edits: [1] });
  const b = rpc.request({ edits: [2] });
  assert.equal(sent.length, 2);
  assert.equal(sent[0].type, "request");
  assert.notEqual(sent[0].id, sent[1].id);
  assert.equal(rpc.receive({ type: "response", id: sent[1].id, ms: 3 }), true);
  assert.equal(rpc.receive({ type: "response", id: "unknown" }), false);
  assert.equal(rpc.receive({ type: "other" }), false);
  rpc.receive({ type: "response", id: sent[0].id, ms: 1 });
  assert.equal((await a).ms, 1);
  assert.equal((await b).ms, 3);
  assert.equal(rpc.size(), 0);
});

test("rpc rejects with the Python error message", async () => {
  const sent = [];
  const rpc = createRpc((msg) => sent.push(msg));
  const p = rpc.request({});
  rpc.receive({ type: "response", id: sent[0].id, error: "unknown head (9, 0)" });
  await assert.rejects(p, /unknown head \(9, 0\)/);
});

test("rpc times out so a dead kernel cannot block the loop", async () => {
  const timers = [];
  const rpc = createRpc(() => {}, {
    timeoutMs: 5000,
    setTimer: (fn) => timers.push(fn) - 1,
    clearTimer: () => {},
  });
  const p = rpc.request({});
  timers[0]();
  await assert.rejects(p, /no answer from the kernel after 5 s/);
  assert.equal(rpc.size(), 0);
});

test("rpc posting failure rejects at once", async () => {
  const rpc = createRpc(() => {
    throw new Error("comm closed");
  });
  await assert.rejects(rpc.request({}), /comm closed/);
});

test("coalescer over rpc: fifty fast values end at the last one", async () => {
  const sent = [];
  const rpc = createRpc((msg) => sent.push(msg));
  const shown = [];
  const c = createCoalescer((v) => rpc.request({ value: v }), { onResult: (r) => shown.push(r.value) });
  for (let v = 0; v < 50; v++) c.push(v);
  while (rpc.size()) {
    const msg = sent.at(-1);
    rpc.receive({ type: "response", id: msg.id, value: msg.value });
    await flush();
  }
  assert.deepEqual(shown, [0, 49]);
});
