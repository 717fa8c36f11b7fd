"""The argument parser of the ``headwidgets`` command line and its help texts."""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Sequence

from headwidgets.cli import demo as demo_cmd
from headwidgets.cli import figure as figure_cmd
from headwidgets.cli import models as models_cmd
from headwidgets.cli import scores as scores_cmd
from headwidgets.cli import sweep as sweep_cmd
from headwidgets.cli._common import PROG
from headwidgets.cli.scores import CAUSAL_SCORES, WEIGHT_SCORES, pattern_names
from headwidgets.vocab import ABLATION_MODES, DEFAULT_METRIC, METRIC_KINDS, NEEDS_TARGET

_DESCRIPTION = """\
headwidgets: score, ablate and draw the attention heads of a transformers model
from the shell. Cubes are written as netCDF (.nc) or zarr (.zarr) and read back
with hw.load_cube(path)."""


_EPILOG = """\
examples:
  headwidgets models
  headwidgets scores induction-2l @repeated:16 induction previous_token -o scores.nc
  headwidgets scores circuits-4l prompts.txt sink entropy --reduce none -o sink.zarr
  headwidgets sweep circuits-4l "When Mary and John went to the store, John gave a drink to" \\
      --metric logit_diff --target " Mary" --distractor " John" --mode zero -o effect.nc
  headwidgets figure effect.nc --kind heatmap --highlight 2.3,3.0 --out effect.svg
  headwidgets figure scores.nc --var induction --out induction.svg
  headwidgets demo            # JupyterLab on notebooks/01_quickstart.ipynb (= make demo)

Run `headwidgets COMMAND --help` for the options of each command.
Set HEADWIDGETS_DEBUG=1 to get a traceback instead of a one-line error."""


_SCORES_EPILOG = """\
PROMPTS is a text file with one prompt per line (empty lines are skipped), "-"
for standard input, or a built-in prompt set:
  @repeated[:N]   BOS + R + R random-token prompts (induction, duplicate_token)
  @ioi[:N]        indirect-object prompts with targets and corrupted prompts
  @successor[:N]  "Monday Tuesday" -> " Wednesday" prompts with targets
  @needle[:N]     needle-in-a-haystack prompts with their needles (retrieval)
A line of the file may add tab-separated columns: prompt<TAB>target<TAB>
distractor<TAB>corrupted (needed by the causal scores).

SCORE names:
  attention statistics (one forward pass per batch):
    {patterns}
  raw attention patterns (layer, head, query, key, prompt; never reduced): attention
  weights only (PROMPTS is not used): {weights}
  retrieval (needs @needle, or the needle text as the 2nd column): retrieval
  causal (need targets; activation/attribution patching also corrupted prompts):
    {causal}

Several scores go into OUT as one xarray Dataset, one variable per score
(hw.load_cube(OUT, "induction") reads one back; `headwidgets figure OUT --var
induction` draws one). With {{name}} in OUT, each score gets its own file
instead. The written paths are printed one per line.

examples:
  headwidgets scores induction-2l @repeated:16 induction previous_token -o scores.nc
  headwidgets scores circuits-4l prompts.txt sink entropy --reduce none -o {{name}}.zarr
  headwidgets scores circuits-4l @ioi:32 activation_patching -o patching.nc
  headwidgets scores induction-2l @repeated:2 attention -o patterns.nc"""


_SWEEP_EPILOG_TEMPLATE = """\
The cube holds metric(prompt with one head edited) - metric(clean prompt) for
every (layer, head), from one batched forward pass.

{metrics}
{modes}
Targets are single tokens; most tokenizers write them with a leading space.

examples:
  headwidgets sweep circuits-4l "When Mary and John went to the store, John gave a drink to" \\
      --metric logit_diff --target " Mary" --distractor " John" -o ioi_effect.nc
  headwidgets sweep induction-2l "ba ke zo ri ba ke zo ri" --metric loss \\
      --mode scale --alpha 0.5 -o damp.nc"""
#: the option each sweep mode needs
_MODE_OPTIONS = {"scale": "--alpha", "mean": "--reference FILE", "resample": "--source TEXT"}


def _sweep_epilog() -> str:
    """The sweep's help: its metrics and modes as the vocabulary lists them."""
    metrics = [
        f"{kind} (needs --target and --distractor)"
        if kind == DEFAULT_METRIC
        else f"{kind} (needs --target)"
        if kind in NEEDS_TARGET
        else kind
        for kind in METRIC_KINDS
    ]
    modes = [
        f"{mode} ({_MODE_OPTIONS[mode]})" if mode in _MODE_OPTIONS else mode
        for mode in ABLATION_MODES
    ]
    return _SWEEP_EPILOG_TEMPLATE.format(
        metrics=textwrap.fill(
            "metrics: " + ", ".join(metrics) + ".", width=80, break_on_hyphens=False
        ),
        modes=textwrap.fill("modes: " + ", ".join(modes) + ".", width=80, break_on_hyphens=False),
    )


_FIGURE_EPILOG = """\
kinds: heatmap (layer x head), pattern (query x key of one head), scale (metric vs
alpha), profile (per-layer summary), difference (CUBE minus --other), tokens
(per-token values). The suffix of --out picks the format: .svg, .png, .pdf,
.html. SVG/PNG/PDF need a Chromium/Chrome on the machine; HTML needs nothing.

examples:
  headwidgets figure scores.nc --var induction --kind heatmap --out induction.svg
  headwidgets figure effect.nc --kind heatmap --highlight 2.3,3.0 --out effect.png
  headwidgets figure a.nc --kind difference --other b.nc --out diff.html
  headwidgets figure patterns.nc --kind pattern --layer 1 --head 2 --out pattern.svg
  headwidgets scores induction-2l @repeated:4 induction --per-query --reduce none -o q.nc
  headwidgets figure q.nc --kind tokens --layer 1 --head 0 --prompt 0 --out tokens.svg"""


_DEMO_EPILOG = """\
Starts JupyterLab on 127.0.0.1 with the quickstart notebook open, exactly what
`make demo` runs. Arguments after the options are passed to `jupyter lab`.

examples:
  headwidgets demo
  headwidgets demo --dry-run
  headwidgets demo --notebook notebooks/02_induction_heads.ipynb -- --port 8890"""


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog=PROG, description=_DESCRIPTION, epilog=_EPILOG, formatter_class=fmt
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    # models ------------------------------------------------------------------------------
    models = sub.add_parser(
        "models",
        help="list the models shipped with headwidgets",
        description="List the shipped models (hw.load(name) loads them offline).",
        epilog="examples:\n  headwidgets models\n  headwidgets models --json",
        formatter_class=fmt,
    )
    models.add_argument("--json", action="store_true", help="print a JSON object name -> text")
    models.set_defaults(func=models_cmd.run)

    # scores ------------------------------------------------------------------------------
    scores = sub.add_parser(
        "scores",
        help="compute head scores over a prompt file -> .nc/.zarr",
        description="Compute head scores of MODEL on PROMPTS and save one cube per score.",
        epilog=_scores_epilog(),
        formatter_class=fmt,
    )
    _model_args(scores)
    scores.add_argument("prompts", metavar="PROMPTS", help="prompt file, '-', or @set[:N]")
    scores.add_argument("names", metavar="SCORE", nargs="+", help="score names (see below)")
    scores.add_argument(
        "-o",
        "--out",
        required=True,
        help="output .nc or .zarr (several scores: one Dataset; {name} = one file per score)",
    )
    scores.add_argument(
        "--reduce",
        choices=("mean", "median", "none"),
        default="mean",
        help="reduce over prompts (default mean; none keeps a 'prompt' dim)",
    )
    scores.add_argument(
        "--per-query", action="store_true", help="keep query positions (attention statistics)"
    )
    scores.add_argument(
        "--metric",
        default=None,
        help=f"metric of the causal scores (default {DEFAULT_METRIC}; logprob without distractors)",
    )
    scores.add_argument(
        "--tokens",
        default=None,
        help="token_set: comma-separated token texts or positions, e.g. 'Mary,John,0'",
    )
    scores.add_argument("--window", type=int, default=64, help="attention_distance cap W")
    scores.add_argument(
        "--k", type=int, default=1000, help="ov_copying: tokens the OV circuit is restricted to"
    )
    scores.add_argument("--batch-size", type=int, default=16, help="prompts per forward pass")
    scores.add_argument("--seed", type=int, default=0, help="seed of the built-in prompt sets")
    _quiet(scores)
    scores.set_defaults(func=scores_cmd.run)

    # sweep -------------------------------------------------------------------------------
    sweep = sub.add_parser(
        "sweep",
        help="single-head ablation sweep of one prompt -> .nc",
        description="Edit every head in turn (one batched pass) and save the metric change.",
        epilog=_sweep_epilog(),
        formatter_class=fmt,
    )
    _model_args(sweep)
    sweep.add_argument("prompt", metavar="PROMPT", help="the prompt text")
    sweep.add_argument(
        "--metric",
        default=DEFAULT_METRIC,
        help=", ".join(f"{k} (default)" if k == DEFAULT_METRIC else k for k in METRIC_KINDS),
    )
    sweep.add_argument("--target", default=None, help="target token, e.g. ' Mary'")
    sweep.add_argument("--distractor", default=None, help="distractor token, e.g. ' John'")
    sweep.add_argument(
        "--position", type=int, default=-1, help="position whose next token is measured"
    )
    sweep.add_argument(
        "--mode",
        choices=ABLATION_MODES,
        default="zero",
        help="how each head is edited (default zero)",
    )
    sweep.add_argument("--alpha", type=float, default=0.0, help="scale factor of --mode scale")
    sweep.add_argument(
        "--reference", default=None, help="--mode mean: file of reference prompts (one a line)"
    )
    sweep.add_argument("--source", default=None, help="--mode resample: the source prompt")
    sweep.add_argument("-o", "--out", required=True, help="output .nc or .zarr")
    _quiet(sweep)
    sweep.set_defaults(func=sweep_cmd.run)

    # figure ------------------------------------------------------------------------------
    figure = sub.add_parser(
        "figure",
        help="draw a saved cube -> .svg/.png/.pdf/.html",
        description="Draw a cube saved by `headwidgets scores`/`sweep` or hw.save_cube.",
        epilog=_FIGURE_EPILOG,
        formatter_class=fmt,
    )
    figure.add_argument("cube", metavar="CUBE", help="a .nc or .zarr cube")
    figure.add_argument(
        "--var", default=None, help="the cube to draw from a file of several (e.g. induction)"
    )
    figure.add_argument(
        "--kind",
        default="heatmap",
        help="heatmap (default), pattern, scale, profile, difference, tokens",
    )
    figure.add_argument("--out", "-o", required=True, help="output .svg, .png, .pdf or .html")
    figure.add_argument("--other", default=None, help="difference: the cube to subtract")
    figure.add_argument(
        "--reduce",
        choices=("mean", "median", "max", "min", "sum"),
        default=None,
        help="reduce dims the figure does not draw (e.g. prompt)",
    )
    figure.add_argument("--highlight", default=None, help="heads to outline, e.g. '1.2,0.3'")
    figure.add_argument("--heads", default=None, help="scale: head sets to draw, e.g. '1.2'")
    figure.add_argument("--layer", type=int, default=None, help="pattern/tokens: the layer")
    figure.add_argument("--head", type=int, default=None, help="pattern/tokens: the head")
    figure.add_argument(
        "--prompt", type=int, default=None, help="pattern/tokens: the prompt (of a 'prompt' dim)"
    )
    figure.add_argument("--title", default=None, help="figure title (default from the cube)")
    figure.add_argument("--width", type=int, default=None, help="width in CSS pixels")
    figure.add_argument("--height", type=int, default=None, help="height in CSS pixels")
    figure.add_argument(
        "--pixel-ratio",
        type=float,
        default=None,
        help="PNG pixels per CSS pixel (default: 300 dpi)",
    )
    # --pixel-ratio's old name: still read, with a FutureWarning
    figure.add_argument("--scale", type=float, default=None, help=argparse.SUPPRESS)
    figure.add_argument(
        "--data", action="store_true", help="also write the drawn cube beside it (.nc)"
    )
    figure.set_defaults(func=figure_cmd.run)

    # demo --------------------------------------------------------------------------------
    demo = sub.add_parser(
        "demo",
        help="open the quickstart notebook in JupyterLab (= make demo)",
        description="Start JupyterLab on the quickstart notebook.",
        epilog=_DEMO_EPILOG,
        formatter_class=fmt,
    )
    demo.add_argument(
        "--notebook",
        default=None,
        help="notebook to open (default notebooks/01_quickstart.ipynb)",
    )
    demo.add_argument(
        "--dry-run", action="store_true", help="print the command instead of running it"
    )
    demo.add_argument("lab_args", nargs=argparse.REMAINDER, help="extra `jupyter lab` arguments")
    demo.set_defaults(func=demo_cmd.run)
    return parser


def _model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model", metavar="MODEL", help="shipped model (see `headwidgets models`), dir or hub id"
    )
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if any)")
    parser.add_argument("--dtype", default=None, help="float32, bfloat16, float16")
    parser.add_argument(
        "--device-map", default=None, help="e.g. auto: shard over all GPUs (accelerate)"
    )


def _quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def _scores_epilog() -> str:
    return _SCORES_EPILOG.format(
        patterns=_wrap(pattern_names(), 4),
        weights=", ".join(WEIGHT_SCORES),
        causal=", ".join(CAUSAL_SCORES[1:]),
    )


def _wrap(words: Sequence[str], indent: int, width: int = 80) -> str:
    lines, line = [], ""
    for word in words:
        piece = word if not line else f"{line}, {word}"
        if len(piece) + indent > width and line:
            lines.append(line + ",")
            line = word
        else:
            line = piece
    lines.append(line)
    return ("\n" + " " * indent).join(lines)


def _version() -> str:
    from headwidgets import __version__

    return __version__
