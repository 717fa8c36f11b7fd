// The live loop's request discipline: at most one request in flight; while it runs, newer
// control values replace older pending ones (latest wins), so a fast slider drag never queues
// stale work and the last request sent always carries the final control values.
//
// Pure logic: `send(value)` is injected (it returns a Promise), so the tests drive it with
// fake transports and fake timers.

/**
 * @param {(value: any, id: number) => Promise<any>} send  runs one request
 * @param {{onResult?: (result, value, id, ms) => void, onError?: (error, value, id) => void,
 *          onIdle?: () => void, now?: () => number}} hooks
 * @returns {{push(value): number, busy(): boolean, pending(): boolean, dispose(): void,
 *            stats: {sent: number, replaced: number, completed: number, failed: number}}}
 *
 * Example:
 *   const c = createCoalescer((v) => rpc(v), {onResult: (r) => draw(r)});
 *   slider.oninput = () => c.push(slider.value);
 */
export function createCoalescer(send, { onResult, onError, onIdle, now = () => Date.now() } = {}) {
  let inFlight = false;
  let hasPending = false;
  let pendingValue;
  let nextId = 1;
  let disposed = false;
  const stats = { sent: 0, replaced: 0, completed: 0, failed: 0 };

  function start(value) {
    const id = nextId++;
    inFlight = true;
    stats.sent++;
    const t0 = now();
    let promise;
    try {
      promise = Promise.resolve(send(value, id));
    } catch (error) {
      promise = Promise.reject(error);
    }
    promise.then(
      (result) => {
        if (disposed) return;
        stats.completed++;
        onResult?.(result, value, id, now() - t0);
        finish();
      },
      (error) => {
        if (disposed) return;
        stats.failed++;
        onError?.(error, value, id);
        finish();
      },
    );
    return id;
  }

  function finish() {
    inFlight = false;
    if (hasPending) {
      const value = pendingValue;
      hasPending = false;
      pendingValue = undefined;
      start(value);
    } else {
      onIdle?.();
    }
  }

  return {
    /** Ask for `value`; sends now when idle, else becomes the one pending value. */
    push(value) {
      if (disposed) return 0;
      if (!inFlight) return start(value);
      if (hasPending) stats.replaced++;
      hasPending = true;
      pendingValue = value;
      return 0;
    },
    busy: () => inFlight,
    pending: () => hasPending,
    dispose() {
      disposed = true;
      hasPending = false;
      pendingValue = undefined;
    },
    stats,
  };
}

/**
 * Request/response over a message channel (anywidget's model.send / "msg:custom").
 *
 * `post(message)` sends; feed every incoming message to `receive(message)`. A request resolves
 * with the response carrying its id, rejects with the Python error it reports, or rejects
 * after `timeoutMs` (so a dead kernel cannot block the loop forever).
 *
 * @param {(msg: object) => void} post
 * @param {{timeoutMs?: number, setTimer?: Function, clearTimer?: Function}} opts
 */
export function createRpc(
  post,
  { timeoutMs = 60000, setTimer = setTimeout, clearTimer = clearTimeout } = {},
) {
  const waiting = new Map();
  let counter = 0;
  return {
    /** Send {type: "request", id, ...payload}; resolves with the response message. */
    request(payload) {
      const id = `${Date.now().toString(36)}-${++counter}`;
      return new Promise((resolve, reject) => {
        const timer = setTimer(() => {
          waiting.delete(id);
          reject(new Error(`no answer from the kernel after ${timeoutMs / 1000} s (is it busy or dead?)`));
        }, timeoutMs);
        waiting.set(id, { resolve, reject, timer });
        try {
          post({ ...payload, type: "request", id });
        } catch (error) {
          clearTimer(timer);
          waiting.delete(id);
          reject(error);
        }
      });
    },
    /** Route an incoming message; returns true when it answered a request. */
    receive(msg) {
      if (!msg || msg.type !== "response" || !waiting.has(msg.id)) return false;
      const { resolve, reject, timer } = waiting.get(msg.id);
      waiting.delete(msg.id);
      clearTimer(timer);
      if (msg.error) reject(Object.assign(new Error(msg.error), { response: msg }));
      else resolve(msg);
      return true;
    },
    /** Requests still waiting for an answer. */
    size: () => waiting.size,
    /** Forget every waiting request (their promises never settle). */
    dispose() {
      for (const { timer } of waiting.values()) clearTimer(timer);
      waiting.clear();
    },
  };
}
