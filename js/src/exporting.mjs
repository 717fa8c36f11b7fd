// The HeadGrid's export button: its label and what the widget shows about the last export.
// Pure functions (no DOM), unit tested with `node --test`.

/**
 * The button's label from the file it writes: "Export SVG" for "heads.svg".
 *
 * Example: exportLabel("out/Heads.PNG")  // "Export PNG"
 */
export function exportLabel(path) {
  const name = String(path ?? "").split(/[\\/]/).pop();
  const dot = name.lastIndexOf(".");
  const suffix = dot > 0 ? name.slice(dot + 1).toUpperCase() : "";
  return suffix ? `Export ${suffix}` : "Export";
}

/**
 * What to show for an export: the button's label, title and state, the status line and the
 * error. `busy` is true from the click until Python answers.
 *
 * @param {{path?: string, status?: string, error?: string, busy?: boolean}} state
 * @returns {{label: string, title: string, disabled: boolean, status: string, error: string}}
 */
export function exportView({ path = "", status = "", error = "", busy = false } = {}) {
  const target = path || "headwidgets.svg";
  return {
    label: busy ? "exporting…" : exportLabel(target),
    title: `write ${target} and its data (.nc) into the kernel's working directory`,
    disabled: Boolean(busy),
    status: busy ? "" : status || "",
    error: busy ? "" : error || "",
  };
}
