// All headwidgets front ends in one ES module: named exports per widget, and a default
// export that renders whichever widget the model names in its `_view` trait. The Python
// widgets each load their own module (headgrid.js, ...); this bundle is for hosts that want
// one file, and it is the build's stamp target.
import attentionview from "./attentionview.js";
import headcontrols from "./headcontrols.js";
import headgrid from "./headgrid.js";
import outputview from "./outputview.js";

export const widgets = { headgrid, headcontrols, outputview, attentionview };
export { attentionview, headcontrols, headgrid, outputview };

function render(context) {
  const name = context.model.get("_view");
  const widget = widgets[name];
  if (!widget) throw new Error(`unknown headwidgets view ${JSON.stringify(name)}; expected one of ${Object.keys(widgets).join(", ")}`);
  return widget.render(context);
}

export default { render };
