"""What every command shares: the error type, progress lines, loading a model, saving cubes."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

PROG = "headwidgets"


class CLIError(Exception):
    """Bad command-line input: printed as one line, exit status 2."""


def log(args: argparse.Namespace, message: str) -> None:
    if not getattr(args, "quiet", False):
        print(message, file=sys.stderr, flush=True)


def load_model(args: argparse.Namespace) -> Any:
    import headwidgets as hw
    from headwidgets import zoo

    name = args.model
    offline = False
    if name in zoo.MODELS:
        zoo.path(name)  # a clear error when the shipped weights are missing
    elif not Path(name).is_dir() and not hub_reachable():
        # a hub id without network: use the local cache only, instead of ~30 s of retries
        offline = True
    log(args, f"loading {name} ...")
    if args.quiet:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    start = time.perf_counter()
    try:
        with _hub_offline(offline):
            hm = hw.load(name, device=args.device, dtype=args.dtype, device_map=args.device_map)
    except OSError as exc:
        shipped = ", ".join(zoo.MODELS)
        raise CLIError(
            f"cannot load model {name!r}: not a shipped model ({shipped}), not a local "
            f"directory, and not found on the Hugging Face hub (offline?): {first_line(exc)}"
        ) from exc
    log(
        args,
        f"loaded {name}: {hm.n_layers} layers x {hm.n_heads} heads on {hm.device} "
        f"({time.perf_counter() - start:.1f} s)",
    )
    return hm


@contextlib.contextmanager
def _hub_offline(offline: bool) -> Iterator[None]:
    """``HF_HUB_OFFLINE=1`` for this load only (when asked), the variable restored after."""
    before = os.environ.get("HF_HUB_OFFLINE")
    if offline and before is None:
        os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if offline and before is None:
            os.environ.pop("HF_HUB_OFFLINE", None)


def hub_reachable(timeout: float = 3.0) -> bool:
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


def first_line(exc: BaseException) -> str:
    # KeyError's str() is the repr of its key; show the plain message
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    text = text.strip() or type(exc).__name__
    return text.splitlines()[0]


def reduce_arg(value: str | None) -> Any:
    return None if value in (None, "none") else value


def token_list(text: str | None) -> list[int | str] | None:
    if text is None:
        return None
    items: list[int | str] = []
    for item in text.split(","):
        item = item.strip()
        if item:
            items.append(int(item) if item.lstrip("-").isdigit() else item)
    return items


def out_paths(out: str, names: Sequence[str]) -> dict[str, Path]:
    path = Path(out)
    if path.suffix.lower() not in (".nc", ".zarr"):
        raise CLIError(f"output {out!r} must end in .nc or .zarr")
    if "{name}" in out:
        return {name: Path(out.format(name=name)) for name in names}
    return dict.fromkeys(names, path)  # several scores: one Dataset in one file


def save(cube: Any, path: Path) -> Path:
    from headwidgets.cubes import save_cube

    path.parent.mkdir(parents=True, exist_ok=True)
    return save_cube(cube, path)


def save_cubes(cubes: dict[str, Any], paths: dict[str, Path]) -> list[Path]:
    """Each cube to its path; cubes that share a path go there as one xarray Dataset."""
    import xarray as xr

    written = []
    for path in dict.fromkeys(paths.values()):
        names = [name for name in cubes if paths[name] == path]
        if len(names) == 1:
            written.append(save(cubes[names[0]].rename(names[0]), path))
            continue
        try:
            dataset = xr.Dataset({name: cubes[name] for name in names})
        except (xr.MergeError, ValueError) as exc:
            raise CLIError(
                f"the scores {', '.join(names)} cannot share one file ({first_line(exc)}); "
                f"put {{name}} in the output path to write one file per score"
            ) from exc
        written.append(save(dataset, path))
    return written
