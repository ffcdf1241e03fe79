"""run_hyper.py (issue 15): RecBole's HyperTuning over our `run`, one table row per trial."""

import json

import pytest

import run_hyper
from conftest import TINY

pytest.importorskip("hyperopt")


def overrides(settings: dict) -> list[str]:
    return [f"--{key}={value}" for key, value in settings.items()]


def test_two_trials_run_and_the_best_is_printed_and_tabled(workdir, capsys):
    params = workdir / "lr.test"
    params.write_text("learning_rate choice [0.01,0.001]\n")
    argv = ["--model=SASRec", "--dataset=ml-100k", f"--params_file={params}", "--max_evals=2",
            "--results_dir=results", *overrides(dict(TINY, checkpoint_dir="saved"))]
    assert run_hyper.main(argv) == 0
    printed = capsys.readouterr().out
    table = json.loads((workdir / "results" / "hyper-SASRec-ml-100k.json").read_text())
    assert [row["trial"] for row in table["rows"]] == [1, 2]
    assert {row["params"] for row in table["rows"]} == {"learning_rate:0.01", "learning_rate:0.001"}
    best = max(table["rows"], key=lambda row: row["best_valid_score"])
    assert table["best"]["params"] == best["params"]
    assert f"best params: {best['params']}" in printed and "test result: {'recall@5'" in printed
    assert "| trial | params |" in (workdir / "results" / "hyper-SASRec-ml-100k.md").read_text()


def test_max_evals_caps_the_exhaustive_search(workdir, capsys):
    params = workdir / "grid.test"
    params.write_text("learning_rate choice [0.01,0.001,0.0005]\n")
    pop = {key: TINY[key] for key in ("epochs", "show_progress", "state", "user_inter_num_interval")}
    argv = ["--model=Pop", f"--params_file={params}", "--max_evals=1", *overrides(dict(pop, checkpoint_dir="saved"))]
    assert run_hyper.main(argv) == 0
    assert capsys.readouterr().out.count("running parameters:") == 1  # RecBole's exhaustive would run all 3


def test_a_setting_both_searched_and_fixed_is_refused(workdir, capsys):
    argv = ["--model=Pop", "--learning_rate=0.1", f"--params_file={workdir / 'x.test'}"]
    (workdir / "x.test").write_text("learning_rate choice [0.01,0.001]\n")
    assert run_hyper.main(argv) == 2
    assert "learning_rate is both searched" in capsys.readouterr().err


def test_the_shipped_maskgr_search_space_names_only_maskgr_settings():
    from recbole_maskgr.config import known_settings
    from recbole_maskgr.hyper import default_params_file

    path = default_params_file("MaskGR")
    assert path.endswith("MaskGR.test")
    names = {line.split()[0] for line in open(path) if line.strip()}
    assert names <= known_settings("MaskGR", "ml-100k")
    assert default_params_file("SASRec").endswith("default.test")
