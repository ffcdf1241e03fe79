"""MaskGR's item-level levers: the hybrid item input (`item_id_vectors`), the item-level softmax
(`item_loss_weight`), beam re-ranking by it (`beam_rerank_weight`) and one-pass `item` decoding."""

import dataclasses
import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from recbole_maskgr.config import ConfigError
from recbole_maskgr.decoding import marginal_item_scores, rerank_beams
from recbole_maskgr.model.item_head import ItemHead, item_logits
from recbole_maskgr.model.objectives import CleanItemsObjective

from conftest import SID_ONLY, assert_full_sort_contract, assert_training_lowers_loss, build_model, first_batch

ITEM_LEVEL = dict(history_tokens="items", clean_history_share=1.0, history_attention="history_only")


# ---------------------------------------------------------------- pure functions
def test_rerank_adds_the_weighted_item_score_of_each_beam_item_by_hand():
    beam_items = torch.tensor([[2, 0, -1]])  # catalogue indices; -1 = empty slot
    beam_scores = torch.tensor([[-1.0, -2.0, float("-inf")]])
    item_scores = torch.tensor([[-3.0, -0.5, -0.1]])  # items 0, 1, 2
    out = rerank_beams(beam_items, beam_scores, item_scores, weight=2.0)
    assert out[0, :2].tolist() == pytest.approx([-1.0 + 2 * -0.1, -2.0 + 2 * -3.0])
    assert out[0, 2] == float("-inf")  # the empty slot keeps its score
    assert rerank_beams(beam_items, beam_scores, item_scores, 0.0) is beam_scores


def test_item_head_loss_is_the_full_softmax_cross_entropy_by_hand():
    head = ItemHead(2)
    with torch.no_grad():
        head.project.weight.copy_(torch.eye(2))
        head.project.bias.zero_()
    states = torch.tensor([[[1.0, 0.0], [3.0, 2.0]]])  # one row, H = 2 slots -> mean (2, 1)
    items = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # items 1, 2, 3
    logits = [2 / math.sqrt(2), 1 / math.sqrt(2), 3 / math.sqrt(2)]
    expected = -logits[1] + math.log(sum(math.exp(v) for v in logits))  # target item 2
    ids = torch.tensor([1, 2, 3])
    ce, count = head.loss_terms(states, torch.tensor([2]), items[1:2], ids, items)  # every item a candidate
    assert ce.item() == pytest.approx(expected, rel=1e-6) and count.item() == 1.0
    # a sampled softmax over candidates (3, 2, 3): the target's own copy is left out, item 3 counts twice
    sampled = -logits[1] + math.log(math.exp(logits[1]) + 2 * math.exp(logits[2]))
    ce, _ = head.loss_terms(states, torch.tensor([2]), items[1:2], torch.tensor([3, 2, 3]), items[[2, 1, 2]])
    assert ce.item() == pytest.approx(sampled, rel=1e-6)
    assert torch.allclose(head.log_probs(states, items).exp().sum(), torch.tensor(1.0))
    assert torch.allclose(item_logits(torch.tensor([[2.0, 1.0]]), items), torch.tensor([logits]))


# ---------------------------------------------------------------- the model
def build_maskgr(settings):
    """The SID-only model unless `settings` turn the item levers on."""
    return build_model("MaskGR", {**SID_ONLY, **settings})


@pytest.fixture
def item_level(sid_model_settings):
    return dict(sid_model_settings, **ITEM_LEVEL)


def test_item_vectors_add_the_id_vector_to_the_code_sum(item_level):
    _, _, _, model, _ = build_maskgr(dict(item_level, item_id_vectors=True))
    items = torch.tensor([[0, 3, 7]])  # padding, then two items
    codes = model.encoder.token_emb(model._code_tokens(model.item_sid[items])).sum(2) / math.sqrt(model.sid_length)
    expected = (codes + model.item_id_emb(items)) / math.sqrt(2.0)
    got = model._item_vectors(items)
    assert torch.allclose(got[0, 1:], expected[0, 1:], atol=1e-6)
    assert torch.equal(got[0, 0], torch.zeros(model.hidden_size))  # padding stays 0
    assert model.catalogue_vectors().shape == (model.n_items - 1, model.hidden_size)


def test_slots_encoded_twice_over_one_cached_history_equal_two_full_passes(item_level):
    _, _, (train, _, _), model, _ = build_maskgr(dict(item_level, item_loss_weight=1.0))
    model.eval()
    interaction = first_batch(train)[torch.arange(30)]
    history = model._history_items(interaction)  # ragged, left-padded
    target = interaction[model.POS_ITEM_ID]
    noised, _ = model_noise(model, target)
    all_masked = torch.full_like(noised, model.mask_id)
    with torch.no_grad():
        first, second = CleanItemsObjective._slots_twice(model, history, noised, all_masked)
        embedded = model._item_vectors(history)
        assert torch.allclose(first, model(embedded, history > 0, noised), atol=1e-5)
        assert torch.allclose(second, model(embedded, history > 0, all_masked), atol=1e-5)


def model_noise(model, target):
    codes = model.item_sid[target]  # [B, H]
    t = torch.full((target.shape[0],), 0.5)
    g = torch.Generator().manual_seed(0)
    masked = torch.rand(codes.shape, generator=g) < t[:, None]
    return torch.where(masked, model.mask_id, model._code_tokens(codes)), masked


def test_item_loss_joins_the_token_loss_with_its_weight(item_level):
    _, _, (train, _, _), model, _ = build_maskgr(dict(item_level, item_loss_weight=0.5, dropout_prob=0.0))
    model.eval()
    batch = first_batch(train)[torch.arange(16)]
    torch.manual_seed(0)
    terms = model.objective.chunk_terms(model, batch, candidates=model._item_candidates())  # the full softmax
    assert set(terms) == {"token", "item"}  # no dense step
    # the item-level part by hand: the all-masked slots' states against every item vector
    history = model._history_items(batch)
    all_masked = torch.full((16, model.sid_length), model.mask_id)
    with torch.no_grad():
        states = model(model._item_vectors(history), history > 0, all_masked)
        logits = item_logits(model.item_head.query(states), model.catalogue_vectors())
        expected = F.cross_entropy(logits, batch[model.POS_ITEM_ID] - 1, reduction="sum")
    assert terms["item"][0].item() == pytest.approx(expected.item(), rel=1e-4) and terms["item"][1].item() == 16
    losses = []
    for weight in (0.5, 0.0):  # the same noise draw; only the item part's weight differs
        model.objective = dataclasses.replace(model.objective, item_loss_weight=weight)
        torch.manual_seed(1)
        losses.append(model.calculate_loss(batch).item())
    assert losses[0] - losses[1] == pytest.approx(0.5 * expected.item() / 16, rel=1e-4)


def test_sampled_item_loss_draws_its_candidates_once_a_batch(item_level):
    _, _, (train, _, _), model, _ = build_maskgr(dict(item_level, item_loss_weight=1.0, item_negatives=50))
    torch.manual_seed(0)
    ids, vectors = model._item_candidates()
    assert ids.shape == (50,) and vectors.shape == (50, model.hidden_size)
    assert ((ids >= 1) & (ids < model.n_items)).all()
    assert torch.allclose(vectors, model._item_vectors(ids[None])[0])
    assert_training_lowers_loss(model, first_batch(train)[torch.arange(64)], steps=150)  # fresh negatives each step: a noisier loss


def test_item_level_model_learns_and_decodes_every_way(item_level):
    settings = dict(item_level, item_id_vectors=True, item_loss_weight=1.0, beam_rerank_weight=1.0)
    config, dataset, (train, _, test), model, _ = build_maskgr(settings)
    assert_training_lowers_loss(model, first_batch(train)[torch.arange(64)], steps=60)  # 64 rows: memorised fast
    model.eval()
    interaction = first_batch(test)
    for mode in ("item", "beam", "marginal"):
        assert_full_sort_contract(config, dataset, model, interaction, replace(model.specs["test"], mode=mode))
    # `item` ranks by the head alone: the order of its log-probs
    item_spec = replace(model.specs["test"], mode="item")
    with torch.no_grad():
        scores = model.rank(interaction, item_spec)[0][:, 1:]
        states, _ = model._one_pass(interaction)
        expected = model.item_head.log_probs(states[:, : model.sid_length], model.catalogue_vectors())
    assert torch.allclose(scores, expected, atol=1e-5)
    # with item_marginal_weight the one-pass token likelihood joins: log p_item + w * sum_l log p(code_l)
    with torch.no_grad():
        mixed = model.rank(interaction, replace(item_spec, marginal_weight=0.5))[0][:, 1:]
        _, log_probs = model._one_pass(interaction)
        marginal = marginal_item_scores(log_probs[:, : model.sid_length], model.item_sid[1:])
    assert torch.allclose(mixed, expected + 0.5 * marginal, atol=1e-4)


def test_reranked_beams_are_ordered_by_beam_plus_item_score(item_level):
    settings = dict(item_level, item_loss_weight=1.0, beam_rerank_weight=3.0)
    _, _, (_, _, test), model, _ = build_maskgr(settings)
    model.eval()
    interaction = first_batch(test)
    with torch.no_grad():
        items, result, first_pass = model._joint_beams(interaction, model.specs["test"])
        item_scores = model._item_scores(first_pass["states"])  # [U, n-1]
        scores = model.full_sort_predict(interaction)[:, 1:]  # [U, n-1]
    beam_items = items[..., 0]  # [U, B]
    combined = result.scores + 3.0 * item_scores.gather(1, beam_items.clamp(min=0))
    for user in range(beam_items.shape[0]):
        real = beam_items[user] >= 0
        order = torch.argsort(combined[user][real], descending=True)
        top = torch.topk(scores[user], int(real.sum())).indices
        assert torch.equal(top, beam_items[user][real][order])


@pytest.mark.parametrize("bad, message", [
    (dict(item_loss_weight=1.0, history_attention="all"), "item_loss_weight > 0 needs history_attention: history_only"),
    (dict(beam_rerank_weight=1.0), "beam_rerank_weight > 0 needs the item head"),
    (dict(test_decoding="item"), "test_decoding: item needs the item head"),
    (dict(token_loss_weight=0.0), "token_loss_weight: 0 needs the item head"),
    (dict(item_id_vectors=True, history_tokens="codes", clean_history_share=0.0),
     "item_id_vectors needs history_tokens: items"),
])
def test_item_level_settings_are_checked_before_loading(item_level, bad, message):
    from recbole_maskgr.config import make_config
    from recbole_maskgr.model.maskgr import MaskGR

    config = make_config("MaskGR", "ml-100k", config_dict={**item_level, **SID_ONLY, **bad})
    with pytest.raises(ConfigError, match=message):
        MaskGR.check_config(config)


def test_a_negative_loss_weight_is_refused_when_the_config_is_made(item_level):
    from recbole_maskgr.config import make_config

    with pytest.raises(ConfigError, match=r"'item_loss_weight' in config_dict must be a number >= 0, got -1.0"):
        make_config("MaskGR", "ml-100k", config_dict={**item_level, **SID_ONLY, "item_loss_weight": -1.0})


@pytest.mark.parametrize("presets, levers_on", [([], True), (["maskgr-sid-only"], False), (["maskgr-paper"], False)])
def test_the_default_has_the_item_levers_and_the_sid_presets_turn_them_off(presets, levers_on):
    from recbole_maskgr.config import make_config
    from recbole_maskgr.model.maskgr import MaskGR

    config = make_config("MaskGR", "ml-100k", presets)
    expected = (True, 1.0, "item", "item") if levers_on else (False, 0.0, "marginal", "beam")
    assert (config["item_id_vectors"], config["item_loss_weight"],
            config["valid_decoding"], config["test_decoding"]) == expected
    MaskGR.check_config(config)
