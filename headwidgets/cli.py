"""The ``headwidgets`` command line: scores, sweeps and figures without a notebook.

Every subcommand is a thin layer over the Python API (``hw.load``, ``hw.scores``,
``hm.sweep``, ``headwidgets.figures``), so what the command writes is exactly what the
notebook code would produce: cubes in netCDF (``.nc``) or zarr (``.zarr``) that
``hw.load_cube`` reads back.

Bad input (an unknown model, score or figure kind, a target that is not one token, a missing
file) ends with a one-line ``headwidgets: error: ...`` message and exit status 2; set
``HEADWIDGETS_DEBUG=1`` to see the traceback instead.

Example
-------
>>> from headwidgets.cli import main
>>> main(["models"])                                  # doctest: +SKIP
induction-2l  GPT-2 style, 2 layers x 4 heads, ...
0
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CLIError", "main"]

PROG = "headwidgets"

# Scores the `scores` subcommand computes, besides the attention statistics of
# headwidgets.scores.patterns (listed from there so the two never drift apart).
_WEIGHT_SCORES = ("ov_copying",)
_RAW = ("attention",)  # raw patterns (layer, head, query, key, prompt), for `figure --kind pattern`
_CAUSAL_SCORES = (
    "retrieval",
    "ablation_effect",
    "activation_patching",
    "attribution_patching",
    "direct_logit_attribution",
)
_BUILTIN_SETS = ("repeated", "ioi", "successor", "needle")


class CLIError(Exception):
    """Bad command-line input: printed as one line, exit status 2."""


# ---------------------------------------------------------------------------------------------
# help text


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

_SWEEP_EPILOG = """\
The cube holds metric(prompt with one head edited) - metric(clean prompt) for
every (layer, head), from one batched forward pass.

metrics: logit_diff (needs --target and --distractor), prob, logprob, accuracy,
rank (need --target), loss, kl.
modes: zero, scale (--alpha), mean (--reference FILE), resample (--source TEXT).
Targets are single tokens; most tokenizers write them with a leading space.

examples:
  headwidgets sweep circuits-4l "When Mary and John went to the store, John gave a drink to" \\
      --metric logit_diff --target " Mary" --distractor " John" -o ioi_effect.nc
  headwidgets sweep induction-2l "ba ke zo ri ba ke zo ri" --metric loss \\
      --mode scale --alpha 0.5 -o damp.nc"""

_FIGURE_EPILOG = """\
kinds: heatmap (layer x head), pattern (query x key of one head), scale (metric vs
alpha), profile (per-layer summary), difference (CUBE minus --other), tokens
(per-token values). The suffix of --out picks the format: .svg, .png, .pdf,
.html. SVG/PNG/PDF need a Chromium/Chrome on the machine; HTML needs nothing.

examples:
  headwidgets figure scores.nc --var induction --kind heatmap --out induction.svg
  headwidgets figure effect.nc --kind heatmap --highlight 2.3,3.0 --out effect.png --scale 3
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


# ---------------------------------------------------------------------------------------------
# parser


def _parser() -> argparse.ArgumentParser:
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
    models.set_defaults(func=_cmd_models)

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
        "--metric", default=None, help="metric of the causal scores (default logit_diff)"
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
    scores.set_defaults(func=_cmd_scores)

    # sweep -------------------------------------------------------------------------------
    sweep = sub.add_parser(
        "sweep",
        help="single-head ablation sweep of one prompt -> .nc",
        description="Edit every head in turn (one batched pass) and save the metric change.",
        epilog=_SWEEP_EPILOG,
        formatter_class=fmt,
    )
    _model_args(sweep)
    sweep.add_argument("prompt", metavar="PROMPT", help="the prompt text")
    sweep.add_argument(
        "--metric",
        default="logit_diff",
        help="logit_diff (default), prob, logprob, loss, kl, accuracy, rank",
    )
    sweep.add_argument("--target", default=None, help="target token, e.g. ' Mary'")
    sweep.add_argument("--distractor", default=None, help="distractor token, e.g. ' John'")
    sweep.add_argument(
        "--position", type=int, default=-1, help="position whose next token is measured"
    )
    sweep.add_argument(
        "--mode",
        choices=("zero", "scale", "mean", "resample"),
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
    sweep.set_defaults(func=_cmd_sweep)

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
    figure.add_argument("--scale", type=float, default=2.0, help="PNG pixels per CSS pixel")
    figure.add_argument(
        "--data", action="store_true", help="also write the drawn cube beside it (.nc)"
    )
    figure.set_defaults(func=_cmd_figure)

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
    demo.set_defaults(func=_cmd_demo)
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
        patterns=_wrap(_pattern_names(), 4),
        weights=", ".join(_WEIGHT_SCORES),
        causal=", ".join(_CAUSAL_SCORES[1:]),
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


def _pattern_names() -> tuple[str, ...]:
    from headwidgets.scores.patterns import STATISTICS

    return tuple(STATISTICS)


# ---------------------------------------------------------------------------------------------
# helpers


def _log(args: argparse.Namespace, message: str) -> None:
    if not getattr(args, "quiet", False):
        print(message, file=sys.stderr, flush=True)


def _load(args: argparse.Namespace) -> Any:
    import headwidgets as hw
    from headwidgets import zoo

    name = args.model
    if name in zoo.MODELS:
        zoo.path(name)  # a clear error when the shipped weights are missing
    elif not Path(name).is_dir() and not _hub_reachable():
        # a hub id without network: use the local cache only, instead of ~30 s of retries
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    _log(args, f"loading {name} ...")
    if args.quiet:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    start = time.perf_counter()
    try:
        hm = hw.load(name, device=args.device, dtype=args.dtype, device_map=args.device_map)
    except OSError as exc:
        shipped = ", ".join(zoo.MODELS)
        raise CLIError(
            f"cannot load model {name!r}: not a shipped model ({shipped}), not a local "
            f"directory, and not found on the Hugging Face hub (offline?): {_first_line(exc)}"
        ) from exc
    _log(
        args,
        f"loaded {name}: {hm.n_layers} layers x {hm.n_heads} heads on {hm.device} "
        f"({time.perf_counter() - start:.1f} s)",
    )
    return hm


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub (or the ``HF_ENDPOINT`` mirror) answers on its port."""
    import socket
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0"):
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = url.port or (80 if url.scheme == "http" else 443)
    try:
        socket.create_connection((url.hostname or "huggingface.co", port), timeout).close()
    except OSError:
        return False
    return True


def _first_line(exc: BaseException) -> str:
    # KeyError's str() is the repr of its key; show the plain message
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    text = text.strip() or type(exc).__name__
    return text.splitlines()[0]


def _reduce(value: str | None) -> Any:
    return None if value in (None, "none") else value


@dataclass
class _Prompts:
    """Prompts read from a file or built in, with optional per-prompt targets."""

    prompts: list[str]
    targets: list[str] | None = None
    distractors: list[str] | None = None
    corrupted: list[str] | None = None
    source: str = ""
    needles: list[str] | None = None

    def metrics(self, kind: str | None) -> list[Any]:
        from headwidgets.metrics import Metric

        if self.targets is None:
            raise CLIError(
                f"causal scores need a target per prompt: use @ioi or @successor, or add "
                f"tab-separated target/distractor columns to {self.source}"
            )
        if kind is None:
            kind = "logit_diff" if self.distractors is not None else "logprob"
        distractors: Sequence[str | None] = self.distractors or [None] * len(self.targets)
        return [
            Metric(kind, target=t, distractor=d)  # type: ignore[arg-type]
            for t, d in zip(self.targets, distractors, strict=True)
        ]


def _read_lines(spec: str) -> list[str]:
    if spec == "-":
        text = sys.stdin.read()
    else:
        path = Path(spec)
        if not path.is_file():
            raise CLIError(
                f"no prompt file {spec!r} (one prompt per line, or @repeated, @ioi, ...)"
            )
        text = path.read_text(encoding="utf-8")
    lines = [line.rstrip("\r\n") for line in text.splitlines()]
    lines = [line for line in lines if line.strip()]
    if not lines:
        raise CLIError(f"the prompt file {spec!r} has no prompts")
    return lines


def _builtin_set(spec: str) -> tuple[str, int] | None:
    """``("ioi", 32)`` for ``"@ioi:32"``; None for a file; CLIError for an unknown set."""
    if not spec.startswith("@"):
        return None
    name, _, count = spec[1:].partition(":")
    if name not in _BUILTIN_SETS or (count and not count.isdigit()) or count == "0":
        valid = ", ".join(f"@{s}" for s in _BUILTIN_SETS)
        raise CLIError(f"unknown prompt set {spec!r}; valid: {valid} (with :N for N prompts)")
    return name, int(count) if count else 8


def _check_prompts(spec: str) -> None:
    """Fail on a bad prompt argument before the (slow) model load."""
    if _builtin_set(spec) is None and spec != "-" and not Path(spec).is_file():
        raise CLIError(f"no prompt file {spec!r} (one prompt per line, or @repeated, @ioi, ...)")


def _read_prompts(spec: str, hm: Any, seed: int) -> _Prompts:
    from headwidgets import datasets

    builtin = _builtin_set(spec)
    if builtin is not None:
        name, n = builtin
        if name == "repeated":
            return _Prompts(datasets.repeated_tokens(hm, n=n, seed=seed), source=spec)
        if name == "needle":
            found = datasets.needle_haystack(n, seed=seed, hm=hm)
            return _Prompts(list(found.prompts), source=spec, needles=found.needles)
        if name == "ioi":
            found = datasets.ioi(n, seed=seed, hm=hm)
        else:
            found = datasets.successor(n, seed=seed, hm=hm)
        return _Prompts(
            list(found.prompts), found.targets, found.distractors, found.corrupted, spec
        )
    rows = [line.split("\t") for line in _read_lines(spec)]
    width = {len(row) for row in rows}
    if len(width) > 1:
        raise CLIError(f"{spec}: every line needs the same number of tab-separated columns")
    columns = list(zip(*rows, strict=True))
    if len(columns) > 4:
        raise CLIError(f"{spec}: at most 4 columns (prompt, target, distractor, corrupted)")

    def column(i: int) -> list[str] | None:
        return list(columns[i]) if len(columns) > i else None

    return _Prompts(list(columns[0]), column(1), column(2), column(3), spec)


def _out_paths(out: str, names: Sequence[str]) -> dict[str, Path]:
    path = Path(out)
    if path.suffix.lower() not in (".nc", ".zarr"):
        raise CLIError(f"output {out!r} must end in .nc or .zarr")
    if "{name}" in out:
        return {name: Path(out.format(name=name)) for name in names}
    return dict.fromkeys(names, path)  # several scores: one Dataset in one file


def _save(cube: Any, path: Path) -> Path:
    from headwidgets.cubes import save_cube

    path.parent.mkdir(parents=True, exist_ok=True)
    return save_cube(cube, path)


def _save_cubes(cubes: dict[str, Any], paths: dict[str, Path]) -> list[Path]:
    """Each cube to its path; cubes that share a path go there as one xarray Dataset."""
    import xarray as xr

    written = []
    for path in dict.fromkeys(paths.values()):
        names = [name for name in cubes if paths[name] == path]
        if len(names) == 1:
            written.append(_save(cubes[names[0]].rename(names[0]), path))
            continue
        try:
            dataset = xr.Dataset({name: cubes[name] for name in names})
        except (xr.MergeError, ValueError) as exc:
            raise CLIError(
                f"the scores {', '.join(names)} cannot share one file ({_first_line(exc)}); "
                f"put {{name}} in the output path to write one file per score"
            ) from exc
        written.append(_save(dataset, path))
    return written


def _tokens(text: str | None) -> list[int | str] | None:
    if text is None:
        return None
    items: list[int | str] = []
    for item in text.split(","):
        item = item.strip()
        if item:
            items.append(int(item) if item.lstrip("-").isdigit() else item)
    return items


# ---------------------------------------------------------------------------------------------
# commands


def _cmd_models(args: argparse.Namespace) -> int:
    from headwidgets import zoo

    found = zoo.models()
    if args.json:
        print(json.dumps(dict(found), indent=2))
        return 0
    if found:
        print(found)
    missing = [name for name in zoo.MODELS if name not in found]
    for name in missing:
        print(
            f"{name}: weights missing; rebuild with `python -m headwidgets.zoo.train {name}`",
            file=sys.stderr,
        )
    return 0


def _score_names(names: Sequence[str]) -> list[str]:
    valid = [*_pattern_names(), *_RAW, *_WEIGHT_SCORES, *_CAUSAL_SCORES]
    unknown = [name for name in names if name not in valid]
    if unknown:
        raise CLIError(f"unknown score {unknown[0]!r}; valid scores: {', '.join(valid)}")
    return list(dict.fromkeys(names))


def _cmd_scores(args: argparse.Namespace) -> int:
    names = _score_names(args.names)
    paths = _out_paths(args.out, names)
    if args.batch_size < 1:
        raise CLIError(f"--batch-size must be >= 1, got {args.batch_size}")
    _check_prompts(args.prompts)
    hm = _load(args)
    prompts = _read_prompts(args.prompts, hm, args.seed)
    _log(args, f"{len(prompts.prompts)} prompts from {prompts.source}")
    reduce = _reduce(args.reduce)
    progress = not args.quiet
    cubes: dict[str, Any] = {}
    start = time.perf_counter()

    pattern = [name for name in names if name in _pattern_names()]
    if pattern:
        from headwidgets.scores.patterns import pattern_scores

        cubes.update(
            pattern_scores(
                hm,
                prompts.prompts,
                names=pattern,  # type: ignore[arg-type]
                per_query=args.per_query,
                reduce=reduce,
                window=args.window,
                tokens=_tokens(args.tokens),
                batch_size=args.batch_size,
                progress=progress,
            )
        )
    for name in names:
        if name in pattern:
            continue
        if name == "attention":  # every prompt keeps its own pattern: no reduction
            cubes[name] = _score_function(name)(
                hm, prompts.prompts, batch_size=args.batch_size, progress=progress
            )
        elif name in _WEIGHT_SCORES:
            cubes[name] = _score_function(name)(hm, k=args.k)
        else:
            cubes[name] = _causal_score(name, hm, prompts, args, reduce, progress)
    _log(args, f"computed {', '.join(names)} in {time.perf_counter() - start:.1f} s")
    for path in _save_cubes({name: cubes[name] for name in names}, paths):
        print(path)
    return 0


def _score_function(name: str) -> Callable[..., Any]:
    """``hw.scores.<name>``."""
    from headwidgets import scores

    found: Callable[..., Any] = getattr(scores, name)
    return found


def _causal_score(
    name: str,
    hm: Any,
    prompts: _Prompts,
    args: argparse.Namespace,
    reduce: Any,
    progress: bool,
) -> Any:
    fn = _score_function(name)
    common = {"reduce": reduce, "progress": progress}
    if name == "retrieval":
        needles = prompts.needles or prompts.targets
        if needles is None:
            raise CLIError(
                f"retrieval needs the needle of each prompt: use @needle, or add the needle "
                f"text as a tab-separated second column to {prompts.source}"
            )
        return fn(hm, prompts.prompts, needles, batch_size=args.batch_size, **common)
    metrics = prompts.metrics(args.metric)  # checks that there are targets
    if name == "direct_logit_attribution":
        return fn(hm, prompts.prompts, prompts.targets, prompts.distractors, **common)
    if name == "ablation_effect":
        return fn(hm, prompts.prompts, metrics, **common)
    if prompts.corrupted is None:
        raise CLIError(
            f"{name} needs corrupted prompts: use @ioi or @successor, or add a 4th "
            f"tab-separated column to {prompts.source}"
        )
    return fn(hm, prompts.prompts, prompts.corrupted, metrics, **common)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from headwidgets.metrics import METRIC_KINDS, Metric

    paths = _out_paths(args.out, ["ablation_effect"])
    if args.metric not in METRIC_KINDS:
        raise CLIError(f"unknown metric {args.metric!r}; valid metrics: {', '.join(METRIC_KINDS)}")
    metric = Metric(
        args.metric,  # type: ignore[arg-type]
        target=args.target,
        distractor=args.distractor,
        position=args.position,
    )
    reference = _read_lines(args.reference) if args.reference else None
    if args.mode == "mean" and not reference:
        raise CLIError("--mode mean needs --reference FILE (prompts to average over)")
    if args.mode == "resample" and not args.source:
        raise CLIError("--mode resample needs --source TEXT (the prompt z comes from)")
    hm = _load(args)
    if metric.target is not None:
        metric.token_ids(hm)  # fail on a multi-token target before the sweep
    start = time.perf_counter()
    cube = hm.sweep(
        args.prompt,
        metric,
        mode=args.mode,
        alpha=args.alpha,
        reference=reference,
        source=args.source,
    )
    clean = cube.attrs.get("metric_clean")
    _log(
        args,
        f"swept {hm.n_layers * hm.n_heads} heads in {time.perf_counter() - start:.2f} s"
        + (f"; clean {metric.describe()} = {float(clean):.4g}" if clean is not None else ""),
    )
    print(_save(cube, paths["ablation_effect"]))
    return 0


def _cmd_figure(args: argparse.Namespace) -> int:
    from headwidgets import figures
    from headwidgets.cubes import cube_names

    if not Path(args.cube).exists():
        raise CLIError(f"no cube at {args.cube!r}")
    if args.other is not None and not Path(args.other).exists():
        raise CLIError(f"no cube at {args.other!r}")
    kinds = list(figures.FIGURE_KINDS)
    if args.kind not in kinds:
        raise CLIError(f"unknown figure kind {args.kind!r}; valid kinds: {', '.join(kinds)}")
    names = cube_names(args.cube)
    if args.var is None and len(names) > 1:
        raise CLIError(f"{args.cube} holds several cubes; pick one with --var: {', '.join(names)}")
    if args.var is not None and args.var not in names:
        raise CLIError(f"no cube {args.var!r} in {args.cube}; --var is one of: {', '.join(names)}")
    opts: dict[str, Any] = {"title": args.title, "width": args.width, "height": args.height}
    if args.kind in ("heatmap", "difference"):
        opts["highlight"] = args.highlight
    if args.kind == "scale":
        opts["heads"] = args.heads
    if args.kind in ("pattern", "tokens"):
        opts.update(layer=args.layer, head=args.head, prompt=args.prompt)
    path = figures.figure_command(
        args.cube,
        args.kind,
        args.out,
        other=args.other,
        reduce=args.reduce,
        scale=args.scale,
        data=args.data,
        var=args.var,
        **opts,
    )
    print(path)
    return 0


def _notebooks_dir() -> Path | None:
    """``notebooks/`` of the working directory or of the source checkout, if present."""
    for root in (Path.cwd(), Path(__file__).resolve().parent.parent):
        if (root / "notebooks" / "01_quickstart.ipynb").is_file():
            return root / "notebooks"
    return None


def demo_command(notebook: str | None = None, lab_args: Sequence[str] = ()) -> list[str]:
    """The command line that ``headwidgets demo`` (and ``make demo``) runs."""
    if notebook is None:
        folder = _notebooks_dir()
        if folder is None:
            raise CLIError(
                "no notebooks/01_quickstart.ipynb here; run `headwidgets demo` in a checkout "
                "of the headwidgets repository, or pass --notebook PATH"
            )
        path = folder / "01_quickstart.ipynb"
    else:
        path = Path(notebook)
        if not path.is_file():
            raise CLIError(f"no notebook at {notebook!r}")
    extra = [a for a in lab_args if a != "--"]
    # Jupyter refuses to start as root (containers, cloud machines) without this flag
    root = ["--allow-root"] if getattr(os, "geteuid", lambda: 1)() == 0 else []
    # an absolute file under an explicit root: jupyter_server joins a relative file path to
    # the root it derived from that same path, and the page then asks for a file that is not
    # there (a 404 and the launcher instead of the notebook)
    path = path.resolve()
    root_dir = f"--ServerApp.root_dir={path.parent}"
    lab = [sys.executable, "-m", "jupyter", "lab", "--ip=127.0.0.1", *root, root_dir]
    return [*lab, str(path), *extra]


def _cmd_demo(args: argparse.Namespace) -> int:
    command = demo_command(args.notebook, args.lab_args)
    if args.dry_run:
        print(shlex.join(command))
        return 0
    import importlib.util

    if importlib.util.find_spec("jupyterlab") is None:
        raise CLIError("JupyterLab is not installed: pip install 'headwidgets[notebook]'")
    return subprocess.call(command)


# ---------------------------------------------------------------------------------------------
# entry point


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``headwidgets`` command line; return the exit status.

    Parameters
    ----------
    argv
        Arguments without the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 2 on bad input (after printing a one-line error to stderr).
    """
    parser = _parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # --help, --version, or a usage error (status 2)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    try:
        status: int = args.func(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except (CLIError, ValueError, KeyError, OSError, RuntimeError) as exc:
        # bad input, a missing file or browser, out of memory: one line, no traceback
        if os.environ.get("HEADWIDGETS_DEBUG"):
            raise
        print(f"{PROG}: error: {_first_line(exc)}", file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":
    sys.exit(main())
