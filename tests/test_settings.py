"""Settings declared once: the rules, the generated YAML layers and docs/settings.md, the presets."""

import shutil
from pathlib import Path

import pytest
import yaml

from recbole_maskgr.config import ConfigError, make_config
from recbole_maskgr.settings import SETTINGS, RECBOLE_DEFAULT, checked_values
from recbole_maskgr.settings.__main__ import main as settings_main
from recbole_maskgr.settings.render import generated_files, stale_files
from recbole_maskgr.settings.rules import choice, number, schedule_rule, whole

REPO = Path(__file__).resolve().parents[1]


def test_rules_accept_and_refuse_what_they_say():
    steps = whole(1, 4)
    assert [steps.problem(v) is None for v in (1, 4, 2.0, 0, 5, 2.5, True, "2")] == [True, True, True] + [False] * 5
    assert steps.problem(5) == "must be an integer from 1 to 4, got 5"
    share = number(0, 1, low_open=True, high_open=True)
    assert [share.problem(v) is None for v in (0.5, 0, 1, False)] == [True, False, False, False]
    assert share.allowed == "a number in (0, 1)" and number(0).allowed == "a number >= 0"
    order = choice("a", "b", notes={"a": "first"})
    assert order.allowed == "'a' (first) or 'b'" and order.problem("c") == "must be 'a' (first) or 'b', got 'c'"
    assert whole(1).or_none("off").problem(None) is None and whole(1).problem(None) is not None
    assert [schedule_rule().test(v) for v in (3, [3, 2], [], [0, 5], "two")] == [True, True, False, False, False]


def test_every_declared_default_obeys_its_own_rule():
    for name, setting in SETTINGS.items():
        for value in {repr(v): v for v in [setting.default, *setting.model_defaults.values()]}.values():
            if value is not RECBOLE_DEFAULT:
                assert setting.problem(value) is None, (name, value)


def test_generated_files_are_up_to_date():
    """A declaration changed without `python -m recbole_maskgr.settings` leaves a stale layer or doc."""
    assert stale_files(REPO) == [], "run: python -m recbole_maskgr.settings"


def test_the_yaml_layers_hold_exactly_the_declared_defaults():
    layers = {"overall": REPO / "properties" / "overall.yaml"}
    layers.update({m: REPO / "properties" / "model" / f"{m}.yaml" for m in ("MaskGR", "TIGER")})
    for model, path in layers.items():
        written = yaml.safe_load(path.read_text())
        for name, value in written.items():
            assert SETTINGS[name].default_for(model) == value, (path.name, name)
    docs = (REPO / "docs" / "settings.md").read_text()
    every_key = set().union(*(yaml.safe_load(p.read_text()) for p in layers.values()))
    assert all(f"`{name}`" in docs for name in every_key)


def test_the_check_tool_names_a_stale_file_and_writing_fixes_it(tmp_path, capsys):
    for path in generated_files(REPO):
        target = tmp_path / path.relative_to(REPO)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    layer = tmp_path / "properties" / "model" / "TIGER.yaml"
    layer.write_text(layer.read_text().replace("epochs: 30", "epochs: 31"))
    assert settings_main(["--root", str(tmp_path), "--check"]) == 1
    assert "stale: " + str(layer) in capsys.readouterr().out
    assert settings_main(["--root", str(tmp_path)]) == 0 and settings_main(["--root", str(tmp_path), "--check"]) == 0
    assert "epochs: 30 " in layer.read_text()


@pytest.mark.parametrize("preset", sorted((REPO / "properties" / "presets").glob("*.yaml")), ids=lambda p: p.stem)
def test_presets_name_only_declared_settings_with_allowed_values(preset):
    for name, value in yaml.safe_load(preset.read_text()).items():
        assert name in SETTINGS and SETTINGS[name].problem(value) is None, (preset.name, name, value)


def test_checked_values_are_typed_and_a_plain_config_gets_the_declared_defaults():
    values = checked_values(make_config("MaskGR", "ml-100k", cmd_args=["--mask_t_min=0.01", "--beam_width=12.0"]),
                            "MaskGR")
    assert values.mask_t_min == 0.01 and values.beam_width == 12 and isinstance(values.beam_width, int)
    assert isinstance(values.item_loss_weight, float) and values.sid_levels == 3  # dataset_configs/ml-100k.yaml
    bare = checked_values({}, "TIGER", ["epochs", "valid_decoding"])  # no layers: the declared defaults
    assert (bare.epochs, bare.valid_decoding) == (30, "beam")
    with pytest.raises(ConfigError, match=r"^beam_width must be an integer >= 1, got 0 .*e\.g\. --beam_width=10\.$"):
        checked_values({"beam_width": 0}, "MaskGR", ["beam_width"])
