"""Recommendations from checkpoints trained by `run`: the CLI, the Python function, RecBole's case_study."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from recbole_maskgr import quick_start
from recbole_maskgr.recommend import Recommender, RecommendError, recommend
from recbole_maskgr.recommend.__main__ import main

from conftest import TINY

REPO = Path(__file__).resolve().parents[1]
SID = dict(sid_levels=2, sid_codebook_size=16, hidden_size=32, n_heads=2, inner_size=64, beam_width=10, warmup_steps=5)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, sid_cache):
    """model -> best checkpoint of a 1-epoch tiny run (trained once for this file)."""
    folder = tmp_path_factory.mktemp("recommend")
    saved = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)  # RecBole writes log/ to the working directory
        for model in ("SASRec", "MaskGR", "TIGER"):
            settings = dict(TINY, checkpoint_dir=str(folder / "saved"), sid_cache_dir=sid_cache)
            if model != "SASRec":
                settings.update(SID)
            saved[model] = quick_start.run(model, "ml-100k", config_dict=settings)["saved_model_file"]
    return saved


@pytest.fixture(scope="module")
def recommenders(checkpoints):
    return {model: Recommender(path) for model, path in checkpoints.items()}


def first_test_users(recommender, count=3):
    """Raw ids of the first users of the test split (all kept by the tiny cut's filters)."""
    uids = recommender.test_data.dataset.inter_feat[recommender.dataset.uid_field][:count]
    return [str(recommender.dataset.field2id_token[recommender.dataset.uid_field][int(u)]) for u in uids]


def check_lists(rows, labels, k):
    """k distinct, titled items per label, ranks 1..k, scores not increasing."""
    assert [row["user"] for row in rows] == [label for label in labels for _ in range(k)]
    for label in labels:
        mine = [row for row in rows if row["user"] == label]
        assert [row["rank"] for row in mine] == list(range(1, k + 1))
        assert len({row["item"] for row in mine}) == k
        assert all(row["title"] and row["item"] != "[PAD]" for row in mine)
        scores = [row["score"] for row in mine]
        assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("model", ["MaskGR", "SASRec"])
@pytest.mark.parametrize("who", ["users", "history"])
def test_cli_gives_k_distinct_titled_items_in_both_formats(checkpoints, recommenders, model, who, capsys):
    users = first_test_users(recommenders[model])
    value = ",".join(users) if who == "users" else "50,172,133"
    labels = users if who == "users" else ["history"]
    assert main(["--checkpoint", checkpoints[model], f"--{who}", value, "--k", "10", "--format", "json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert all(list(row) == ["user", "rank", "item", "title", "score"] for row in rows)
    check_lists(rows, labels, 10)
    assert main(["--checkpoint", checkpoints[model], f"--{who}", value, "--k", "5", "--show_history"]) == 0
    table = capsys.readouterr().out
    for row in rows:
        if row["rank"] <= 5:  # the table lists the same top-5, titles included
            assert row["item"] in table and row["title"] in table
    assert table.count("top-5 for ") == len(labels) and "history of" in table


def test_python_function_and_exclude_history(checkpoints, recommenders):
    recommender = recommenders["SASRec"]
    users = first_test_users(recommender, 2)
    rows = recommend(checkpoints["SASRec"], users=",".join(users + users[:1]), k=10)  # text, a user twice
    assert rows == recommender.recommend(users=users, k=10)
    kept = recommender.recommend(users=users, k=10, exclude_history=True)
    check_lists(kept, users, 10)
    for user, history in recommender.histories(users).items():
        assert not {row["item"] for row in kept if row["user"] == user} & set(history)
    with pytest.raises(RecommendError, match=r"unknown user id\(s\) 99999: not in "):
        recommender.recommend(users=["99999"])  # a loaded model checks too
    typed = recommender.recommend(history=["50", "172"], k=10, exclude_history=True)
    assert not {"50", "172"} & {row["item"] for row in typed}


def test_user_history_is_the_whole_history(recommenders):
    """A user's input is every interaction in the data: the test split's history plus its test item."""
    recommender = recommenders["MaskGR"]
    test = recommender.test_data.dataset.inter_feat
    for row in range(3):
        uid = int(test[recommender.dataset.uid_field][row])
        seen = test["item_id_list"][row, : test["item_length"][row]]
        whole = recommender.user_history(uid)
        assert whole[-1] == test["item_id"][row] and torch.equal(whole[-len(seen) - 1 : -1], seen)
        assert len(whole) >= 5  # the tiny cut keeps users with at least 5 interactions


@pytest.mark.parametrize("model", ["MaskGR", "TIGER", "SASRec"])
def test_recbole_case_study_agrees_with_recommend(recommenders, model):
    """RecBole's full_sort_topk on the test split == recommend on the same (cut) history."""
    from recbole.utils.case_study import full_sort_topk

    recommender = recommenders[model]
    test = recommender.test_data.dataset.inter_feat
    for row in range(2):
        uid = int(test[recommender.dataset.uid_field][row])
        scores, items = full_sort_topk([uid], recommender.model, recommender.test_data, 10)
        cut = recommender.raw_items(test["item_id_list"][row, : test["item_length"][row]])
        rows = recommender.recommend(history=cut, k=10)
        assert [r["item"] for r in rows] == recommender.raw_items(items[0])
        assert torch.allclose(torch.tensor([r["score"] for r in rows]), scores[0], atol=1e-5)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--users", "1,99999,abc"], "error: unknown user id(s) 99999, abc: not in "),
        (["--history", "50,99999"], "error: unknown item id(s) 99999: not in "),
        (["--users", "1"], "error: user id(s) 1 are in the data but were dropped by the dataset's filters"),
        (["--users", " , "], "error: no user ids given"),
        (["--users", "1", "--k", "0"], "error: k must be a positive whole number"),
    ],
)
def test_bad_requests_are_one_line_errors_before_the_model_loads(checkpoints, monkeypatch, capsys, args, message):
    if "dropped" not in message:  # a filtered user is only known once the dataset is built
        monkeypatch.setattr(quick_start, "load_data_and_model", lambda path: pytest.fail("model loaded"))
    assert main(["--checkpoint", checkpoints["SASRec"], *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(message)
    with pytest.raises(RecommendError):
        recommend(checkpoints["SASRec"], **({"users": ["99999"]} if "--users" in args else {"history": ["99999"]}))


def test_an_item_the_filters_dropped_is_named(checkpoints, recommenders):
    from recbole_maskgr.recommend.catalog import raw_inter_ids

    recommender = recommenders["SASRec"]
    dropped = sorted(raw_inter_ids(recommender.config)[1] - set(recommender.item_ids))[0]
    with pytest.raises(RecommendError, match=rf"item id\(s\) {dropped} are in the data but were dropped"):
        recommend(checkpoints["SASRec"], history=["50", dropped])


def test_out_file_is_written_and_a_directory_refused(checkpoints, tmp_path, capsys):
    out = tmp_path / "lists" / "top.jsonl"
    assert main(["--checkpoint", checkpoints["SASRec"], "--history", "50", "--format", "json", "--out", str(out)]) == 0
    assert capsys.readouterr().out == ""
    assert len(out.read_text(encoding="utf-8").splitlines()) == 10
    assert os.listdir(out.parent) == ["top.jsonl"]  # no temporary file left
    assert main(["--checkpoint", checkpoints["SASRec"], "--history", "50", "--out", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_python_dash_m_runs(checkpoints):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    done = subprocess.run(
        [sys.executable, "-m", "recbole_maskgr.recommend", "--checkpoint", checkpoints["MaskGR"],
         "--history", "50,172,133", "--k", "3", "--format", "json"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["rank"] for line in done.stdout.splitlines()] == [1, 2, 3]
