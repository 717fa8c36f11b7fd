import assert from "node:assert/strict";
import { test } from "node:test";
import { exportLabel, exportView } from "../src/exporting.mjs";

test("the button names the format the file suffix picks", () => {
  assert.equal(exportLabel("headwidgets-score.svg"), "Export SVG");
  assert.equal(exportLabel("figs/heads.png"), "Export PNG");
  assert.equal(exportLabel("C:\\figs\\heads.Pdf"), "Export PDF");
});

test("a path without a suffix gets a plain label", () => {
  assert.equal(exportLabel("heads"), "Export");
  assert.equal(exportLabel(".hidden"), "Export");
  assert.equal(exportLabel("figs.v2/heads"), "Export");
  assert.equal(exportLabel(undefined), "Export");
});

test("while an export runs the button is disabled and old messages are hidden", () => {
  const view = exportView({ path: "a.svg", status: "wrote a.svg", error: "x", busy: true });
  assert.equal(view.disabled, true);
  assert.equal(view.label, "exporting…");
  assert.equal(view.status, "");
  assert.equal(view.error, "");
});

test("after an export the status or the error is shown", () => {
  const done = exportView({ path: "a.svg", status: "wrote a.svg and a.nc in /tmp" });
  assert.deepEqual(
    [done.label, done.disabled, done.status, done.error],
    ["Export SVG", false, "wrote a.svg and a.nc in /tmp", ""],
  );
  const failed = exportView({ path: "a.jpg", error: "export failed: ValueError: .jpg" });
  assert.equal(failed.error, "export failed: ValueError: .jpg");
  assert.match(failed.title, /a\.jpg/);
});
