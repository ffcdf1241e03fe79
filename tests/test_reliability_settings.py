"""Reliability III (settings): every setting is refused before any data work, under its own name, with
the allowed values; nothing is written first."""

import pytest

from recbole_maskgr import quick_start
from recbole_maskgr.config import ConfigError, make_config
from recbole_maskgr.data.checks import check_joint_index, max_joint_items
from recbole_maskgr.decoding.constraints import fits_int64_keys
from recbole_maskgr.preflight import check_run_config

from test_reliability import MASKGR, cli_error


def refused_before_data_work(workdir, model, override, message):
    saved, cache = workdir / "saved", workdir / "sid"
    settings = dict(MASKGR, checkpoint_dir=str(saved), sid_cache_dir=str(cache), **override)
    if model == "TIGER":
        settings.pop("warmup_steps", None)
    with pytest.raises(ConfigError, match=message):
        quick_start.build(make_config(model, "ml-100k", config_dict=settings), log=False)
    assert not saved.exists() and not cache.exists()


@pytest.mark.parametrize(
    "model, override, message",
    [
        ("MaskGR", {"sid_levels": 8, "sid_codebook_size": 256},
         r"sid_levels 8 x sid_codebook_size 256 gives 256\*\*9 possible SIDs .*use sid_levels <= 6 or a smaller"),
        ("TIGER", {"sid_levels": 40, "sid_codebook_size": 4}, r"sid_levels 40 x sid_codebook_size 4 gives 4\*\*41"),
        ("MaskGR", {"decode_order": "best"},
         r"'decode_order' in config_dict must be 'top-prob' \(most confident position first\) or 'left-to-right' or "
         r"'random', got 'best'.*--decode_order=top-prob\."),
        ("MaskGR", {"invalid_sid": "nearest"},
         r"'invalid_sid' in config_dict must be 'constrained' \(only catalogue items\) or 'projection' .*got 'nearest'"),
        ("TIGER", {"invalid_sid": "nearest"}, r"'invalid_sid' in config_dict must be 'constrained' .*got 'nearest'"),
        ("MaskGR", {"next_k": 5}, r"'next_k' in config_dict must be an integer from 1 to 4, got 5 \(items decoded "
                                  r"jointly as k\*H target slots, at most 4 \(their ids share one int64 index\)"),
        ("TIGER", {"hidden_size": 100, "n_heads": 8}, r"hidden_size \(100\) must be divisible by n_heads \(8\)"),
        ("MaskGR", {"sid_text_template": "{title"},
         r"sid_text_template '\{title' is not a usable template: expected '\}' before end of string\. Write"),
        ("MaskGR", {"sid_text_template": "{title} }"}, r"sid_text_template .*Single '\}' encountered"),
        ("MaskGR", {"sid_text_template": "{title.upper}"}, r"'\{title.upper\}' is not a plain field name"),
        ("MaskGR", {"sid_text_template": "by {}"}, r"positional fields"),
        ("MaskGR", {"sid_text_encoder": "/no/such/model"},
         r"sid_text_encoder '/no/such/model' does not exist\. Name a sentence-transformers model folder"),
    ],
)
def test_bad_settings_are_refused_before_data_work(workdir, model, override, message):
    refused_before_data_work(workdir, model, override, message)


def test_an_encoder_folder_without_a_model_is_refused(workdir):
    (workdir / "notamodel").mkdir()
    (workdir / "notamodel" / "readme.txt").write_text("hello")
    refused_before_data_work(workdir, "MaskGR", {"sid_text_encoder": str(workdir / "notamodel")},
                             r"is a folder without modules.json or config.json, so not a sentence-transformers")


def test_the_encoder_is_not_checked_for_collaborative_sids(workdir):
    settings = dict(MASKGR, sid_source="collaborative", sid_text_encoder="/no/such/model")
    check_run_config(make_config("MaskGR", "ml-100k", config_dict=settings))  # no error: no text is embedded


@pytest.mark.parametrize(
    "override, message",
    [
        ({"metrics": ["Recal", "NDCG"]}, r"metrics names an unknown metric 'Recal'\. Did you mean 'Recall'\? "
                                         r"RecBole's metrics: .*NDCG.*Recall"),
        ({"metrics": ["Recall", "AUC"]}, r"mix ranking and value metrics"),
        ({"topk": [0, 10]}, r"topk must be a whole number >= 1 or a list of them, e.g. \[5, 10\], got \[0, 10\]"),
        ({"valid_metric": "NDCG@20"}, r"valid_metric 'NDCG@20' is not one of the metrics this run computes "
                                      r"\(Recall@5, Recall@10, NDCG@5, NDCG@10, MRR@5, MRR@10: metrics x topk\)"),
        ({"valid_metric": "Hit@10"}, r"valid_metric 'Hit@10' is not one of the metrics"),
    ],
)
@pytest.mark.parametrize("model", ["MaskGR", "SASRec"])
def test_metric_settings_are_refused_when_the_config_is_made(model, override, message):
    with pytest.raises(ConfigError, match=message):
        make_config(model, "ml-100k", config_dict=override)


def test_metric_names_are_case_insensitive_as_in_recbole():
    config = make_config("SASRec", "ml-100k", config_dict={"metrics": ["recall", "GAUC"], "valid_metric": "gauc"})
    assert config["valid_metric"] == "gauc"


def test_a_bad_metric_is_one_error_line_on_the_command_line(workdir, capsys):
    error = cli_error(capsys, ["--model=SASRec", "--metrics=['Recal']"])
    assert "metrics names an unknown metric 'Recal'" in error


def test_next_k_is_checked_against_the_catalogue_before_training():
    assert fits_int64_keys(max_joint_items(3), 3) and not fits_int64_keys(max_joint_items(3) + 1, 3)
    check_joint_index({"next_k": 2}, 10**9)  # 10**18 < 2**63
    with pytest.raises(ConfigError, match=r"next_k 3 cannot decode a catalogue of 3,000,000 items.*up to 2,097,151"):
        check_joint_index({"next_k": 3}, 3_000_000)


def test_a_leaderboard_checks_every_model_before_the_first_trains(workdir):
    settings = dict(MASKGR, checkpoint_dir=str(workdir / "saved"), sid_cache_dir=str(workdir / "sid"),
                    decode_order="best")
    with pytest.raises(ConfigError, match=r"'decode_order' in config_dict must be 'top-prob'"):
        quick_start.leaderboard(["SASRec", "MaskGR"], "ml-100k", config_dict=settings,
                                results_dir=str(workdir / "results"))
    assert not (workdir / "saved").exists() and not (workdir / "results").exists()  # SASRec did not train
