"""Config layers and settings: every file's problem named, every key known, every type checked
before the dataset is loaded."""

import pytest

from recbole_maskgr.config import ConfigError, make_config


def config_with(tmp_path, text: str, name: str = "user.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return make_config("SASRec", "ml-100k", [str(path)]), path


@pytest.mark.parametrize(
    "text, message",
    [
        ("epochs: [1, 2\n", r"is not valid YAML at line 2, column 1: expected ',' or ']'"),
        ("epochs: 1\n  train_batch_size: 2\n", r"is not valid YAML at line 2, column 19: mapping values"),
        ("", r"holds no settings \(it is empty or only comments\)"),
        ("# only a comment\n", r"holds no settings"),
        ("- epochs\n- 1\n", r"must be `key: value` lines \(a mapping\), but it holds a list"),
    ],
)
def test_a_bad_config_file_is_named_with_its_problem(tmp_path, text, message):
    with pytest.raises(ConfigError, match=r"Config file '.*user\.yaml' " + message):
        config_with(tmp_path, text)


def test_unknown_keys_are_refused_with_a_near_match(tmp_path):
    with pytest.raises(ConfigError, match=r"Unknown setting 'lerning_rate' in '.*user.yaml'\. Did you mean "
                                          r"'learning_rate'\?"):
        config_with(tmp_path, "lerning_rate: 0.01\n")
    with pytest.raises(ConfigError, match=r"Unknown setting 'no_such_key' in the command line\. Settings are"):
        make_config("SASRec", "ml-100k", cmd_args=["--no_such_key=1"])
    with pytest.raises(ConfigError, match=r"Unknown setting 'beam_widht' in config_dict\. Did you mean 'beam_width'"):
        make_config("MaskGR", "ml-100k", config_dict={"beam_widht": 20})


@pytest.mark.parametrize(
    "args, message",
    [
        (["--epochs=ten"], r"Setting 'epochs' in the command line must be an integer >= 1, got 'ten' \(passes over"),
        (["--epochs=2.5"], r"'epochs' .* must be an integer >= 1, got 2.5"),
        (["--epochs=0"], r"'epochs' .* must be an integer >= 1, got 0 .*Fix it, e.g. --epochs=300\."),
        (["--learning_rate=0"], r"'learning_rate' .* must be a number > 0, got 0"),
        (["--hidden_dropout_prob=1.5"], r"'hidden_dropout_prob' .* must be a number in \[0, 1\], got 1.5"),
        (["--show_progress=yes"], r"'show_progress' .* must be True or False, got 'yes'"),
        (["--train_budget_s=soon"], r"'train_budget_s' .* must be a number > 0, or ~ \(no budget\), got 'soon'"),
        (["--eval_args=5"], r"'eval_args' .* must be a mapping \(key: value pairs\), got 5 .*--eval_args=\{split: "),
    ],
)
def test_wrong_types_and_ranges_fail_when_the_config_is_made(args, message):
    with pytest.raises(ConfigError, match=message):
        make_config("SASRec", "ml-100k", cmd_args=args)


def test_real_settings_of_every_kind_pass():
    config = make_config("MaskGR", "ml-100k", config_dict={"topk": 10, "metrics": "Recall", "valid_metric": "Recall@10", "decode_steps": [2, 1]},
                         cmd_args=["--learning_rate=1e-3", "--epochs=3", "--nproc=1", "--train_budget_s=60"])
    assert config["epochs"] == 3 and config["decode_steps"] == [2, 1] and config["train_budget_s"] == 60
