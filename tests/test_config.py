import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from recbole_maskgr import config as cfg
from recbole_maskgr.config import ConfigError, get_model, make_config

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def layered(tmp_path, monkeypatch):
    """Our three layers in a temp folder, each setting `probe` and one key of its own."""
    props, datasets = tmp_path / "properties", tmp_path / "dataset_configs"
    (props / "model").mkdir(parents=True)
    datasets.mkdir()
    (props / "overall.yaml").write_text("probe: overall\nfrom_overall: 1\ntrain_neg_sample_args: ~\n")
    (props / "model" / "SASRec.yaml").write_text("probe: model\nfrom_model: 2\n")
    (datasets / "ml-100k.yaml").write_text("probe: dataset\nfrom_dataset: 3\n")
    monkeypatch.setattr(cfg, "resource_dir", lambda name: tmp_path / name)
    user = tmp_path / "user.yaml"
    user.write_text("probe: file\nfrom_dataset: 4\n")  # a user file may only set known keys
    return user


def test_layers_merge_in_documented_order(layered):
    full = make_config("SASRec", "ml-100k", [str(layered)], {"probe": "dict"}, ["--probe=cmd"])
    assert full["probe"] == "cmd"
    assert (full["from_overall"], full["from_model"], full["from_dataset"]) == (1, 2, 4)
    assert make_config("SASRec", "ml-100k")["from_dataset"] == 3
    assert make_config("SASRec", "ml-100k", [str(layered)], {"probe": "dict"})["probe"] == "dict"
    assert make_config("SASRec", "ml-100k", [str(layered)])["probe"] == "file"
    assert make_config("SASRec", "ml-100k")["probe"] == "dataset"
    # RecBole's own defaults stay underneath every layer
    assert make_config("SASRec", "ml-100k")["hidden_size"] == 64  # recbole/properties/model/SASRec.yaml


def test_model_layer_beats_overall_and_dataset_beats_model(layered, tmp_path):
    (tmp_path / "dataset_configs" / "ml-100k.yaml").write_text("other: 1\n")
    assert make_config("SASRec", "ml-100k")["probe"] == "model"
    (tmp_path / "properties" / "model" / "SASRec.yaml").write_text("other: 1\n")
    assert make_config("SASRec", "ml-100k")["probe"] == "overall"


def test_sys_argv_is_ignored_unless_passed(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["x", "--epochs=77"])
    assert make_config("SASRec", "ml-100k")["epochs"] != 77
    assert make_config("SASRec", "ml-100k", cmd_args=["--epochs=77"])["epochs"] == 77


def test_bad_command_line_option():
    with pytest.raises(ConfigError, match="--key=value"):
        make_config("SASRec", "ml-100k", cmd_args=["--epochs"])


def test_missing_config_file_is_named():
    with pytest.raises(ConfigError, match="nope.yaml"):
        make_config("SASRec", "ml-100k", ["nope.yaml"])


def test_model_resolution_plugin_first_then_recbole():
    from recbole.model.sequential_recommender.sasrec import SASRec

    from recbole_maskgr.model.maskgr import MaskGR

    assert get_model("MaskGR") is MaskGR
    assert get_model("SASRec") is SASRec
    assert get_model("Pop").__module__ == "recbole.model.general_recommender.pop"


def test_unknown_model_is_a_clear_error_not_lightgbm():
    with pytest.raises(ConfigError, match="Unknown model 'NoSuchModel'.*MaskGR"):
        get_model("NoSuchModel")
    with pytest.raises(ConfigError, match="Did you mean 'SASRec'"):
        get_model("Sasrec")


def test_dataset_configs_follow_the_paper_protocol():
    for name in ["ml-100k", "amazon-beauty", "amazon-sports-outdoors", "amazon-toys-games", "ml-1m"]:
        assert name in cfg.available_datasets()
    config = make_config("SASRec", "amazon-beauty")
    assert config["eval_args"]["split"] == {"LS": "valid_and_test"}
    assert config["eval_args"]["order"] == "TO" and config["eval_args"]["mode"]["test"] == "full"
    assert config["topk"] == [5, 10] and config["MAX_ITEM_LIST_LENGTH"] == 20
    assert "title" in config["load_col"]["item"] and "brand" in config["load_col"]["item"]


def test_non_editable_install_finds_yaml_files(tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(REPO)],
        check=True, capture_output=True, cwd=tmp_path,
    )
    probe = textwrap.dedent(
        """
        from recbole_maskgr.config import resource_dir, available_datasets
        props = resource_dir("properties")
        print(props)
        print((props / "overall.yaml").is_file(), (props / "model" / "MaskGR.yaml").is_file())
        print(",".join(available_datasets()))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True, cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
    ).stdout.split("\n")
    assert out[0].startswith(str(target))
    assert out[1] == "True True"
    assert "amazon-beauty" in out[2].split(",")


def test_paper_preset_by_name_restores_the_papers_objective(workdir):
    """The defaults deviate from the paper on purpose; the shipped preset undoes every deviation."""
    default = make_config("MaskGR", "ml-100k")
    paper = make_config("MaskGR", "ml-100k", ["maskgr-paper"])
    assert default["clean_history_share"] > 0  # the CPU recipe differs from the paper ...
    assert paper["clean_history_share"] == 0.0 and paper["history_tokens"] == "codes"  # ... the preset does not
    assert paper["target_mask_prob"] == 0.0 and paper["item_mask_prob"] == 0.0
    assert paper["train_samples"] == "sequence" and paper["n_layers"] == 8 and paper["train_batch_size"] == 2048
    same_by_path = make_config("MaskGR", "ml-100k", [str(REPO / "properties" / "presets" / "maskgr-paper.yaml")])
    assert same_by_path["n_layers"] == 8


def test_unknown_preset_names_the_shipped_ones():
    with pytest.raises(ConfigError,
                       match=r"Config file not found: 'maskgr-papr'.*presets: maskgr-paper, maskgr-sid-only"):
        make_config("MaskGR", "ml-100k", ["maskgr-papr"])


def test_only_recboles_chained_fillna_warning_is_hidden():
    import warnings

    from recbole_maskgr.compat import quiet_recbole_warnings

    chained = ("A value is trying to be set on a copy of a DataFrame or Series through chained assignment using an "
               "inplace method.\nThe behavior will change in pandas 3.0.")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_recbole_warnings()
        for message, module in [(chained, "recbole.data.dataset.dataset"), ("something else", "recbole.data.dataset.dataset"),
                                (chained, "my_own_code")]:
            warnings.warn_explicit(message, FutureWarning, "dataset.py", 1, module=module)
    assert [(str(w.message)[:14]) for w in caught] == ["something else", "A value is try"]
