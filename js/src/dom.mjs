// Tiny DOM helpers. Every text goes in through textContent (token text is untrusted input);
// nothing here ever assigns innerHTML.

/**
 * Create an element.
 *
 * @param {string} tag
 * @param {{class?: string, text?: string, title?: string, attrs?: object,
 *          style?: object, dataset?: object}} props
 * @param {Array<Node|string|null|undefined>} children  strings become text nodes
 */
export function h(tag, props = {}, children = []) {
  const el = document.createElement(tag);
  if (props.class) el.className = props.class;
  if (props.text !== undefined && props.text !== null) el.textContent = String(props.text);
  if (props.title !== undefined && props.title !== null) el.title = String(props.title);
  for (const [k, v] of Object.entries(props.attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (/^on/i.test(k)) throw new Error(`refusing to set event attribute ${k}`);
    el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const [k, v] of Object.entries(props.style ?? {})) el.style.setProperty(k, String(v));
  for (const [k, v] of Object.entries(props.dataset ?? {})) el.dataset[k] = String(v);
  for (const child of children) {
    if (child === null || child === undefined) continue;
    el.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return el;
}

/**
 * A bag of listeners that all go away with one call, for anywidget's render cleanup.
 *
 * Example:
 *   const ls = listeners();
 *   ls.on(button, "click", onClick);
 *   ls.model(model, "change:selected", redraw);
 *   return () => ls.removeAll();
 */
export function listeners() {
  const removers = [];
  return {
    /** addEventListener, remembered. */
    on(target, type, fn, options) {
      target.addEventListener(type, fn, options);
      removers.push(() => target.removeEventListener(type, fn, options));
      return fn;
    },
    /** model.on(event, fn), remembered (anywidget / Backbone models). */
    model(model, event, fn) {
      model.on(event, fn);
      removers.push(() => model.off(event, fn));
      return fn;
    },
    /** Any other cleanup (timers, observers, coalescers). */
    add(remove) {
      removers.push(remove);
    },
    removeAll() {
      while (removers.length) {
        try {
          removers.pop()();
        } catch {
          // one failing cleanup must not keep the others from running
        }
      }
    },
    size: () => removers.length,
  };
}

/** Size a canvas for crisp drawing on high-DPI screens; returns the 2D context (scaled). */
export function setupCanvas(canvas, width, height) {
  const ratio = (typeof window !== "undefined" && window.devicePixelRatio) || 1;
  canvas.width = Math.max(1, Math.round(width * ratio));
  canvas.height = Math.max(1, Math.round(height * ratio));
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return ctx;
}

/** Replace all children of `el` (no HTML parsing). */
export function setChildren(el, children) {
  el.replaceChildren(...children.filter((c) => c !== null && c !== undefined));
}

/**
 * Run `fn` once per microtask however often the returned function is called (several trait
 * changes arriving in one message cause one redraw). `.now()` runs it immediately.
 */
export function batched(fn) {
  let queued = false;
  const run = () => {
    queued = false;
    fn();
  };
  const schedule = () => {
    if (queued) return;
    queued = true;
    queueMicrotask(() => {
      if (queued) run();
    });
  };
  schedule.now = () => run();
  schedule.cancel = () => {
    queued = false;
  };
  return schedule;
}
