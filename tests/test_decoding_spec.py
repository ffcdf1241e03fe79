"""The decoding spec: built per phase from the config, passed to `model.rank` and the trainer, and
never stored back on the model."""

import logging
from dataclasses import FrozenInstanceError, replace

import pytest
import torch

from recbole_maskgr.decoding.spec import DecodingSpec

from conftest import SID_ONLY, assert_full_sort_contract, build_model, first_batch


def test_specs_are_built_per_phase_from_the_config(sid_model_settings):
    settings = dict(sid_model_settings, **SID_ONLY, decode_steps=2, decode_order="left-to-right")
    _, _, (_, _, test_data), model, _ = build_model("MaskGR", settings)
    valid, test = model.specs["valid"], model.specs["test"]
    assert (valid.mode, valid.phase, test.mode, test.phase) == ("marginal", "valid", "beam", "test")
    assert test.schedule == (2, 1) and test.order == "left-to-right" and test.beam_width == 10
    assert replace(test, mode="marginal", phase="valid") == valid  # only the mode differs between phases
    with pytest.raises(FrozenInstanceError):
        test.beam_width = 50
    assert replace(test, schedule=[3]).schedule == (3,)  # a list passed in is frozen too
    with pytest.raises(ValueError, match="this model decodes next_k=1 items, the spec asks for 2"):
        model.rank(first_batch(test_data), replace(test, next_k=2))  # the slots are the trained layout's


def test_tiger_spec_takes_neutral_values_for_settings_it_lacks(sid_model_settings):
    _, _, _, model, _ = build_model("TIGER", dict(sid_model_settings, n_decoder_layers=1))
    spec = model.specs["test"]
    assert spec == DecodingSpec(mode="beam", beam_width=10, schedule=(1,) * model.sid_length, phase="test")


@pytest.mark.parametrize("name, change", [
    ("MaskGR", dict(schedule=[3])),  # every token from the first pass: one network row per user
    ("MaskGR", dict(beam_width=20)),
    ("TIGER", dict(beam_width=20)),
])
def test_a_spec_passed_in_changes_decoding_without_changing_the_model(sid_model_settings, name, change):
    settings = dict(sid_model_settings, **SID_ONLY) if name == "MaskGR" else dict(sid_model_settings, n_decoder_layers=1)
    config, dataset, (_, _, test), model, _ = build_model(name, settings)
    model.eval()
    interaction = first_batch(test)
    users = interaction[model.ITEM_SEQ].shape[0]
    specs_before = dict(model.specs)
    own_scores, own_stats = assert_full_sort_contract(config, dataset, model, interaction)
    variant = replace(model.specs["test"], **change)
    scores, stats = assert_full_sort_contract(config, dataset, model, interaction, variant)

    assert stats["users"] == own_stats["users"] == users
    if "schedule" in change:
        assert stats["passes"] == users < own_stats["passes"]  # one pass instead of one per token
    else:
        assert stats["passes"] > own_stats["passes"]  # twice the beams: more rows per pass
        top = scores.topk(20, dim=1).indices  # [U, 20]: the 20 beams, all distinct real items
        assert (top > 0).all() and all(len(set(row.tolist())) == 20 for row in top)
    assert not torch.equal(scores, own_scores)
    assert model.specs == specs_before  # the model was not changed by the variant ...
    with torch.no_grad():
        assert torch.equal(model.full_sort_predict(interaction), own_scores)  # ... and decodes as before


def test_trainer_decodes_validation_and_a_given_spec_and_sums_the_stats(sid_model_settings, caplog):
    _, _, (_, valid, test), model, trainer = build_model("MaskGR", dict(sid_model_settings, **SID_ONLY))
    with caplog.at_level(logging.INFO):
        trainer._valid_epoch(valid)  # the validation spec: one-pass marginal scores
    assert trainer.last_decode_stats["users"] == len(valid.dataset) and len(valid) > 1  # summed over the batches
    assert trainer.last_decode_stats["nfe_per_user"] == 1.0
    assert "users/s (valid)" in caplog.text

    one_pass = replace(model.specs["test"], mode="marginal")
    result = trainer.evaluate(test, load_best_model=False, spec=one_pass)
    assert trainer.last_decode_stats["users"] == len(test.dataset)  # summed over every batch
    assert trainer.last_decode_stats["nfe_per_user"] == 1.0  # not the test spec's beams
    assert model.specs["test"].mode == "beam" and set(result) >= {"recall@10", "ndcg@10"}
