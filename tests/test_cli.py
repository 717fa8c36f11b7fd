"""The ``headwidgets`` command line, run in-process through ``main([...])``.

The commands run on a tiny random-init GPT-2 saved to a temporary directory (plumbing only:
the numbers are meaningless); one test runs the real entry point in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from headwidgets.cli import CLIError, demo_command, main
from tests import _tiny


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny GPT-2 and its word-level tokenizer in HF format, loadable with ``hw.load``."""
    folder = tmp_path_factory.mktemp("tiny-gpt2")
    _tiny.tiny_model("gpt2").save_pretrained(folder)
    _tiny.word_tokenizer().save_pretrained(folder)
    return str(folder)


@pytest.fixture
def prompts_file(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.txt"
    path.write_text(f"{_tiny.prompt(8, 0)}\n\n{_tiny.prompt(10, 1)}\n", encoding="utf-8")
    return path


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "expected an error message on stderr"
    return err[-1]


def test_help_lists_every_command_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("models", "scores", "sweep", "figure", "demo"):
        assert command in out
    assert "examples:" in out


@pytest.mark.parametrize("command", ["models", "scores", "sweep", "figure", "demo"])
def test_every_subcommand_help_has_examples(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"headwidgets {command}" in out


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "usage: headwidgets" in capsys.readouterr().out


def test_models_lists_the_shipped_names(capsys: pytest.CaptureFixture[str]) -> None:
    from headwidgets import zoo

    assert main(["models"]) == 0
    captured = capsys.readouterr()
    for name in zoo.MODELS:  # listed when present, else named as missing on stderr
        assert name in captured.out + captured.err


def test_models_json_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from headwidgets import zoo

    assert main(["models", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == dict(zoo.models())


@pytest.fixture(scope="module")
def scores_file(model_dir: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two scores of two prompts written by ``headwidgets scores ... -o scores.nc``."""
    folder = tmp_path_factory.mktemp("scores")
    prompts = folder / "prompts.txt"
    prompts.write_text(f"{_tiny.prompt(8, 0)}\n\n{_tiny.prompt(10, 1)}\n", encoding="utf-8")
    out = folder / "scores.nc"
    args = ["scores", model_dir, str(prompts), "previous_token", "sink", "-q", "-o", str(out)]
    assert main(args) == 0
    return out


def test_several_scores_go_into_the_one_file_asked_for_as_a_dataset(
    model_dir: str, scores_file: Path
) -> None:
    import headwidgets as hw

    assert sorted(p.name for p in scores_file.parent.iterdir()) == ["prompts.txt", "scores.nc"]
    assert hw.cubes.cube_names(scores_file) == ["previous_token", "sink"]
    cube = hw.load_cube(scores_file, "previous_token")
    assert cube.dims == ("layer", "head") and cube.name == "previous_token"
    direct = hw.scores.patterns.previous_token(
        hw.load(model_dir, device="cpu"), [_tiny.prompt(8, 0), _tiny.prompt(10, 1)], reduce="mean"
    )
    np.testing.assert_allclose(cube.values, direct.values, rtol=1e-5)
    assert hw.load_cube(scores_file, "sink").attrs["method"] != cube.attrs["method"]


def test_scores_that_disagree_on_a_coord_ask_for_one_file_each(tmp_path: Path) -> None:
    from headwidgets.cli._common import save_cubes as _save_cubes
    from headwidgets.cubes import make_cube

    def cube(name: str, tokens: list[str]) -> xr.DataArray:
        return make_cube(
            np.zeros((1, 1, 2)), ("layer", "head", "query"), {"token": ("query", tokens)}, name=name
        )

    cubes = {"a": cube("a", ["x", "y"]), "b": cube("b", ["x", "z"])}
    out = tmp_path / "ab.nc"
    with pytest.raises(CLIError, match=r"the scores a, b cannot share one file .*put \{name\}"):
        _save_cubes(cubes, {"a": out, "b": out})


def test_scores_prints_the_path_it_wrote(
    model_dir: str, prompts_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "one.nc"
    assert main(["scores", model_dir, str(prompts_file), "sink", "-q", "-o", str(out)]) == 0
    assert capsys.readouterr().out.split() == [str(out)]
    import headwidgets as hw

    assert hw.load_cube(out).name == "sink"  # one score: a plain cube file


def test_figure_draws_the_score_var_names_from_a_file_of_several(
    scores_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import headwidgets as hw

    out = tmp_path / "sink.html"
    args = ["figure", str(scores_file), "--var", "sink", "--data", "--out", str(out)]
    assert main(args) == 0
    xr.testing.assert_identical(
        hw.load_cube(out.with_suffix(".nc")), hw.load_cube(scores_file, "sink")
    )
    capsys.readouterr()
    assert main(["figure", str(scores_file), "--out", str(tmp_path / "x.html")]) == 2
    line = _error_line(capsys)
    assert "holds several cubes; pick one with --var: previous_token, sink" in line
    assert main(["figure", str(scores_file), "--var", "entropy", "--out", "x.html"]) == 2
    assert "no cube 'entropy'" in _error_line(capsys)


def test_scores_keeps_prompts_and_writes_zarr(
    model_dir: str, prompts_file: Path, tmp_path: Path
) -> None:
    import headwidgets as hw

    out = tmp_path / "{name}.zarr"
    args = ["scores", model_dir, str(prompts_file), "entropy", "--reduce", "none", "-q"]
    assert main([*args, "-o", str(out)]) == 0
    cube = hw.load_cube(tmp_path / "entropy.zarr")
    assert cube.sizes["prompt"] == 2


def test_scores_builtin_repeated_set_gives_induction(model_dir: str, tmp_path: Path) -> None:
    import headwidgets as hw

    out = tmp_path / "induction.nc"
    assert main(["scores", model_dir, "@repeated:3", "induction", "-q", "-o", str(out)]) == 0
    cube = hw.load_cube(out)
    assert cube.dims == ("layer", "head") and np.isfinite(cube.values).all()


def test_scores_causal_score_reads_target_columns(model_dir: str, tmp_path: Path) -> None:
    import headwidgets as hw

    prompts = tmp_path / "targets.tsv"
    prompts.write_text("w1 w2 w3 w4\t w5\t w6\nw7 w8 w9\t w1\t w2\n", encoding="utf-8")
    out = tmp_path / "effect.nc"
    assert main(["scores", model_dir, str(prompts), "ablation_effect", "-q", "-o", str(out)]) == 0
    cube = hw.load_cube(out)
    assert cube.name == "ablation_effect" and cube.dims == ("layer", "head")


def test_sweep_matches_the_python_api(
    model_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import headwidgets as hw

    prompt, out = "w1 w2 w3 w1 w2", tmp_path / "effect.nc"
    args = ["sweep", model_dir, prompt, "--target", " w3", "--distractor", " w4"]
    assert main([*args, "--device", "cpu", "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    hm = hw.load(model_dir, device="cpu")
    expected = hm.sweep(prompt, hw.Metric("logit_diff", target=" w3", distractor=" w4"))
    np.testing.assert_allclose(hw.load_cube(out).values, expected.values, rtol=1e-5, atol=1e-6)


def test_sweep_scale_mode_with_loss(model_dir: str, tmp_path: Path) -> None:
    import headwidgets as hw

    out = tmp_path / "damp.nc"
    args = ["sweep", model_dir, "w1 w2 w3 w1 w2 w3", "--metric", "loss", "--mode", "scale"]
    assert main([*args, "--alpha", "0.5", "-q", "-o", str(out)]) == 0
    assert '"mode": "scale"' in hw.load_cube(out).attrs["intervention"]


def test_figure_draws_a_saved_cube_to_html(model_dir: str, tmp_path: Path) -> None:
    cube_path = tmp_path / "effect.nc"
    sweep = ["sweep", model_dir, "w1 w2 w3", "--metric", "kl", "-q", "-o", str(cube_path)]
    assert main(sweep) == 0
    out = tmp_path / "fig" / "effect.html"
    args = ["figure", str(cube_path), "--kind", "heatmap", "--highlight", "1.2", "--data"]
    assert main([*args, "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
    xr.testing.assert_allclose(
        xr.load_dataarray(out.with_suffix(".nc"), engine="h5netcdf"),
        xr.load_dataarray(cube_path, engine="h5netcdf"),
    )


def test_attention_patterns_and_per_query_scores_draw_per_prompt(
    model_dir: str, tmp_path: Path
) -> None:
    import headwidgets as hw

    patterns, per_query = tmp_path / "patterns.nc", tmp_path / "q.nc"
    assert main(["scores", model_dir, "@repeated:2", "attention", "-q", "-o", str(patterns)]) == 0
    assert hw.load_cube(patterns).dims == ("layer", "head", "query", "key", "prompt")
    pick = ["--layer", "1", "--head", "0", "--prompt", "1"]
    out = tmp_path / "pattern.html"
    assert main(["figure", str(patterns), "--kind", "pattern", *pick, "--out", str(out)]) == 0
    args = ["scores", model_dir, "@repeated:2", "induction", "--per-query", "--reduce", "none"]
    assert main([*args, "-q", "-o", str(per_query)]) == 0
    out = tmp_path / "tokens.html"
    assert main(["figure", str(per_query), "--kind", "tokens", *pick, "--out", str(out)]) == 0
    assert out.is_file()


def test_demo_dry_run_prints_the_make_demo_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "jupyter lab --ip=127.0.0.1" in out and out.strip().endswith("01_quickstart.ipynb")


def test_demo_passes_extra_arguments_to_jupyter() -> None:
    command = demo_command(None, ["--", "--port", "8890"])
    assert command[-2:] == ["--port", "8890"] and "--" not in command


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sweep", "no-such-model", "a b", "--metric", "loss", "-o", "x.nc"], "cannot load model"),
        (["scores", "{model}", "{prompts}", "nonsense", "-o", "x.nc"], "unknown score 'nonsense'"),
        (["scores", "{model}", "missing.txt", "sink", "-o", "x.nc"], "no prompt file"),
        (["scores", "{model}", "@bogus", "sink", "-o", "x.nc"], "unknown prompt set"),
        (["scores", "{model}", "{prompts}", "sink", "-o", "x.csv"], "must end in .nc or .zarr"),
        (
            [
                "sweep",
                "{model}",
                "w1 w2",
                "--target",
                " w1 w2",
                "--distractor",
                " w3",
                "-o",
                "x.nc",
            ],
            "w1 w2",
        ),
        (["sweep", "{model}", "w1 w2", "--metric", "bleu", "-o", "x.nc"], "unknown metric"),
        (["sweep", "{model}", "w1 w2", "--mode", "mean", "--metric", "kl", "-o", "x.nc"], "mean"),
        (["sweep", "{model}", "w1 w2", "-o", "x.nc"], "needs a target"),
        (["scores", "{model}", "{prompts}", "activation_patching", "-o", "x.nc"], "target"),
        (["figure", "missing.nc", "--out", "x.svg"], "no cube at"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    argv: list[str],
    message: str,
    model_dir: str,
    prompts_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HEADWIDGETS_DEBUG", raising=False)
    argv = [a.format(model=model_dir, prompts=prompts_file) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("headwidgets: error:")]
    assert len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err


def test_unknown_figure_kind_lists_the_kinds(
    model_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cube = tmp_path / "c.nc"
    assert main(["sweep", model_dir, "w1 w2 w3", "--metric", "kl", "-q", "-o", str(cube)]) == 0
    assert main(["figure", str(cube), "--kind", "pie", "--out", str(tmp_path / "f.svg")]) == 2
    line = _error_line(capsys)
    assert "unknown figure kind 'pie'" in line and "heatmap" in line


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scores"]) == 2
    assert "usage: headwidgets scores" in capsys.readouterr().err


def test_debug_env_shows_the_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADWIDGETS_DEBUG", "1")
    with pytest.raises(CLIError, match="no cube at"):
        main(["figure", str(tmp_path / "missing.nc"), "--kind", "heatmap", "--out", "x.html"])


def test_python_dash_m_help_runs_in_a_subprocess() -> None:
    for module in ("headwidgets.cli", "headwidgets"):
        done = subprocess.run(
            [sys.executable, "-m", module, "--help"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "usage: headwidgets" in done.stdout and "examples:" in done.stdout


def test_an_offline_hub_load_sets_hf_hub_offline_for_that_load_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import argparse

    from headwidgets.cli import _common

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(_common, "hub_reachable", lambda timeout=3.0: False)
    seen = []

    def fake_load(name: str, **kwargs: object) -> None:
        seen.append(os.environ.get("HF_HUB_OFFLINE"))
        raise OSError("not in the local cache")

    monkeypatch.setattr("headwidgets.load", fake_load)
    args = argparse.Namespace(
        model="someone/not-cached", quiet=True, device=None, dtype=None, device_map=None
    )
    with pytest.raises(_common.CLIError, match="not found on the Hugging Face hub"):
        _common.load_model(args)
    assert seen == ["1"]  # the load ran offline (no ~30 s of retries) ...
    assert "HF_HUB_OFFLINE" not in os.environ  # ... and the process did not stay offline
