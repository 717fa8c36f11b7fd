// Build the widgets' ES modules and CSS into ../headwidgets/static/ with esbuild.
//
//   node build.mjs            one build
//   node build.mjs --watch    rebuild on change (use with ANYWIDGET_HMR=1 in the kernel)
//
// Each widget gets a self-contained module (anywidget loads one module per widget, so
// shared code is bundled into each), plus the shared stylesheet headwidgets.css.
import { mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const outdir = join(here, "..", "headwidgets", "static");
const entries = ["headgrid", "headcontrols", "outputview", "attentionview", "pathmatrix"];

const options = {
  entryPoints: [
    ...entries.map((name) => ({ in: join(here, "src", `${name}.js`), out: name })),
    { in: join(here, "src", "headwidgets.css"), out: "headwidgets" },
  ],
  outdir,
  bundle: true,
  format: "esm",
  target: ["es2020"],
  platform: "browser",
  minify: false,
  sourcemap: false,
  legalComments: "none",
  logLevel: "info",
};

await mkdir(outdir, { recursive: true });
if (process.argv.includes("--watch")) {
  const context = await esbuild.context(options);
  await context.watch();
  console.log(`watching js/src -> ${outdir}`);
} else {
  for (const name of entries) await rm(join(outdir, `${name}.js.map`), { force: true });
  await esbuild.build(options);
}
