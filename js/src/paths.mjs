// The path matrix's logic: which path a cell stands for, toggling, names. Pure functions,
// tested with `node --test`.
//
// A path is {sender: [layer, head], receiver: "L.H" | "logits", input: "q"|"k"|"v"|"logits"}
// (the PathMatrix's `path` trait; {} or null = none). Rows are senders, columns receivers.

/** True when `path` names a path (not {} / null / undefined). */
export function isPath(path) {
  return Boolean(path && Array.isArray(path.sender) && path.receiver);
}

/** True when a and b name the same path (two empty paths are the same). */
export function samePath(a, b) {
  if (!isPath(a) || !isPath(b)) return isPath(a) === isPath(b);
  return (
    a.sender[0] === b.sender[0] &&
    a.sender[1] === b.sender[1] &&
    a.receiver === b.receiver &&
    a.input === b.input
  );
}

/**
 * The path of cell (row, col), or null where the matrix has no path (NaN: the sender is not
 * below the receiver).
 *
 * @param {{senders: number[][], receivers: string[], input: string,
 *          value: (row: number, col: number) => number}} state
 */
export function cellPath(state, row, col) {
  if (row < 0 || col < 0 || row >= state.senders.length || col >= state.receivers.length) {
    return null;
  }
  if (!Number.isFinite(state.value(row, col))) return null;
  const [layer, head] = state.senders[row];
  return { sender: [layer, head], receiver: state.receivers[col], input: state.input };
}

/** Where `path` sits in the matrix now shown ({row, col}), or null (another input, none). */
export function pathCell(state, path) {
  if (!isPath(path) || path.input !== state.input) return null;
  const row = state.senders.findIndex(([l, h]) => l === path.sender[0] && h === path.sender[1]);
  const col = state.receivers.indexOf(path.receiver);
  return row < 0 || col < 0 ? null : { row, col };
}

/** A click on `clicked` with `current` patched: the path to patch next (null clears). */
export function togglePath(current, clicked) {
  if (!isPath(clicked)) return null;
  return samePath(current, clicked) ? null : clicked;
}

/** "0.1 → k of 1.0", "0.1 → logits", or "" for none. */
export function pathName(path) {
  if (!isPath(path)) return "";
  const sender = `${path.sender[0]}.${path.sender[1]}`;
  if (path.receiver === "logits") return `${sender} → logits`;
  return `${sender} → ${path.input} of ${path.receiver}`;
}
