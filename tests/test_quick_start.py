import json
import os
import pickle

import pytest
import torch

import run_recbole_maskgr
from recbole_maskgr import quick_start
from recbole_maskgr.config import ConfigError, known_settings, make_config
from recbole_maskgr.trainer.checkpoint import CheckpointError, safe_load


def metrics(result):
    return {k: float(v) for k, v in result.items()}


@pytest.mark.parametrize("model", ["SASRec", "BERT4Rec"])
def test_builtin_model_runs_and_checkpoint_reproduces_test_metrics(tiny, model):
    result = quick_start.run(model, "ml-100k", config_dict=tiny)
    assert set(result["test_result"]) >= {"recall@5", "recall@10", "ndcg@10", "mrr@10"}
    assert result["parameters"] > 0 and os.path.isfile(result["saved_model_file"])

    config, net, dataset, train, valid, test = quick_start.load_data_and_model(result["saved_model_file"])
    trainer = quick_start.get_trainer(config)(config, net)
    again = trainer.evaluate(test, load_best_model=False)
    assert metrics(again) == metrics(result["test_result"])


def test_checkpoint_is_weights_only_and_refuses_other_data(tiny):
    result = quick_start.run("SASRec", "ml-100k", config_dict=tiny)
    path = result["saved_model_file"]
    state = torch.load(path, weights_only=True)  # plain data only: loads without unpickling code
    assert state["config"]["model"] == "SASRec" and state["fingerprint"]["dataset"] == "ml-100k"

    other = dict(tiny, user_inter_num_interval="[5,60]")  # a different item set
    config = quick_start.make_config("SASRec", "ml-100k", config_dict=other)
    _, loaders, net, trainer = quick_start.build(config, log=False)
    with pytest.raises(CheckpointError, match="different data: n_items"):
        trainer.evaluate(loaders[2], load_best_model=True, model_file=path)


class Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_malicious_pickle_is_refused_and_never_runs(workdir):
    path = workdir / "evil.pth"
    with open(path, "wb") as handle:
        pickle.dump({"state_dict": Exploit()}, handle)
    with pytest.raises(CheckpointError, match="Refusing to load"):
        safe_load(str(path))
    assert not (workdir / "pwned").exists()


def test_truncated_checkpoint_is_reported(workdir):
    path = workdir / "cut.pth"
    torch.save({"format": "recbole_maskgr/1", "x": torch.zeros(1000)}, path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="unreadable"):
        safe_load(str(path))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model=NoSuchModel"], "Unknown model 'NoSuchModel'"),
        (["--model=SASRec", "--dataset=no-such-data"], "Dataset 'no-such-data' not found"),
        (["--model=SASRec", "--config_files=missing.yaml"], "Config file not found: 'missing.yaml'"),
        (["--model=SASRec,Typo"], "Unknown model 'Typo'"),
    ],
)
def test_cli_errors_are_one_clear_line(workdir, capsys, argv, message):
    assert run_recbole_maskgr.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]


def test_leaderboard_writes_one_table(tiny, workdir):
    rows = quick_start.leaderboard(["Pop", "SASRec"], "ml-100k", config_dict=tiny, results_dir="res", command="x")
    assert [r["model"] for r in rows] == ["Pop", "SASRec"]
    table = (workdir / "res" / "leaderboard-ml-100k.md").read_text()
    assert "| Pop |" in table and "| SASRec |" in table and "recall@10" in table
    data = json.loads((workdir / "res" / "leaderboard-ml-100k.json").read_text())
    assert data["rows"][1]["parameters"] > 0 and "torch" in data["versions"]
    assert data["rows"][0]["recall@10"] == float(data["results"][0]["test_result"]["recall@10"])  # the run's own


def test_leaderboard_accepts_a_setting_one_model_reads_and_refuses_one_none_reads(tiny, workdir):
    known_to_sasrec = dict(tiny, hidden_dropout_prob=0.3)
    for name in ("Pop", "SASRec"):  # each model accepts what another board member reads
        make_config(name, "ml-100k", config_dict=known_to_sasrec,
                    known_elsewhere=frozenset(known_settings("SASRec" if name == "Pop" else "Pop", "ml-100k")))
    with pytest.raises(ConfigError, match="Unknown setting 'beam_widht' in config_dict"):
        quick_start.leaderboard(["Pop", "SASRec"], "ml-100k", config_dict=dict(tiny, beam_widht=20))
    assert not (workdir / "saved").exists()  # refused before any training


def test_training_budget_ends_training_cleanly(tiny):
    result = quick_start.run("SASRec", "ml-100k", config_dict=dict(tiny, epochs=50, train_budget_s=3))
    assert result["train_time_s"] < 40  # 50 epochs would take minutes
    assert result["best_valid_result"] is not None and os.path.isfile(result["saved_model_file"])
