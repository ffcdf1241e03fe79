"""Next-k decoding: k items' SIDs side by side, decoded jointly (issue 12)."""

import pytest
import torch

from recbole_maskgr.config import ConfigError
from recbole_maskgr.decoding import SIDCatalogue, masked_beam_search
from recbole_maskgr.decoding.joint import JointCatalogue

from conftest import SID_ONLY, build_model, first_batch
from test_decoding_masked_beam import random_catalogue, random_fn


def test_joint_catalogue_packs_pairs_and_refuses_an_item_twice():
    codes = torch.tensor([[0, 1], [1, 0], [1, 1]])  # 3 items, H = 2, K = 2
    joint = JointCatalogue(SIDCatalogue(codes, 2), 2)
    assert (joint.H, joint.K, len(joint)) == (4, 2, 9)
    tuples = torch.tensor([[0, 1, 1, 1], [1, 1, 0, 1], [1, 0, 1, 0], [0, 0, 1, 1]])
    packed = joint.lookup(tuples)
    assert packed.tolist() == [0 * 3 + 2, 2 * 3 + 0, -1, -1]  # (0, 2), (2, 0), item 1 twice, (miss, 2)
    assert joint.unpack(packed).tolist() == [[0, 2], [2, 0], [-1, -1], [-1, -1]]


def test_joint_catalogue_constrains_each_item_on_its_own_codes():
    codes = torch.tensor([[0, 1], [1, 0], [1, 1]])
    joint = JointCatalogue(SIDCatalogue(codes, 2), 2)
    allowed = joint.allowed_tokens(torch.tensor([[0, -1, 1, -1]]))[0]  # [4, 2]
    assert allowed.tolist() == [[True, False], [False, True], [False, True], [True, True]]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("order", ["top-prob", "left-to-right"])
def test_jointly_decoded_pairs_are_distinct_catalogue_items(seed, order):
    H, K, B, U = 3, 4, 12, 5
    codes = random_catalogue(seed, 7, H, K)
    joint = JointCatalogue(SIDCatalogue(codes, K), 2)
    res = masked_beam_search(random_fn(U, 2 * H, K, seed), U, 2 * H, K, B, steps=[2, 1, 2, 1], order=order,
                             catalogue=joint, invalid="constrained")
    pairs = joint.unpack(res.items)  # [U, B, 2]
    live = torch.isfinite(res.scores)
    assert live[:, 0].all() and torch.equal(live, res.items >= 0)
    for u in range(U):
        found = [tuple(p) for p in pairs[u][live[u]].tolist()]
        assert all(a != b for a, b in found) and len(set(found)) == len(found)  # two items, no pair twice
        for (a, b), tokens in zip(found, res.tokens[u][live[u]]):
            assert torch.equal(tokens, torch.cat([codes[a], codes[b]]))  # the tokens are the pair's SIDs


@pytest.mark.parametrize("order,steps", [("top-prob", [2, 1]), ("left-to-right", None)])
def test_one_item_joint_search_equals_ordinary_decoding(order, steps):
    H, K, B, U = 3, 4, 6, 4
    catalogue = SIDCatalogue(random_catalogue(1, 20, H, K), K)
    fn = random_fn(U, H, K, 1)
    ordinary = masked_beam_search(fn, U, H, K, B, steps=steps, order=order, catalogue=catalogue)
    joint = masked_beam_search(fn, U, H, K, B, steps=steps, order=order, catalogue=JointCatalogue(catalogue, 1))
    assert torch.equal(ordinary.items, joint.items) and torch.equal(ordinary.scores, joint.scores)


def test_split_targets_moves_the_newest_history_items_into_the_target(sid_model_settings):
    _, _, _, model, _ = build_model("MaskGR", dict(sid_model_settings, **SID_ONLY, next_k=2))
    history = torch.tensor([[0, 0, 5, 6], [0, 0, 0, 7]])
    rest, targets = model.split_targets(history, torch.tensor([8, 9]))
    assert rest.tolist() == [[0, 0, 5], [0, 0, 0]] and targets.tolist() == [[6, 8], [7, 9]]


def test_split_targets_leaves_a_padding_position_when_the_whole_history_moves(sid_model_settings):
    _, _, _, model, _ = build_model("MaskGR", dict(sid_model_settings, **SID_ONLY, next_k=2))
    rest, targets = model.split_targets(torch.tensor([[5], [6]]), torch.tensor([8, 9]))
    assert rest.tolist() == [[0], [0]] and targets.tolist() == [[5, 8], [6, 9]]


def test_next_two_trains_on_a_chunk_of_one_item_histories(sid_model_settings):
    """Beauty's shortest training rows: one history item, which joins the target; the item head's
    cached-history pass then has only padding to attend to (it crashed on an empty history)."""
    from recbole.data.interaction import Interaction

    _, _, (train, _, _), model, _ = build_model("MaskGR", dict(sid_model_settings, next_k=2))  # with the item head
    batch = first_batch(train)[torch.arange(8)]
    seq = torch.zeros_like(batch[model.ITEM_SEQ])  # [8, L], left-aligned as RecBole keeps it
    seq[:, 0] = batch[model.ITEM_SEQ][:, 0]
    batch.update(Interaction({model.ITEM_SEQ: seq, model.ITEM_SEQ_LEN: torch.ones_like(batch[model.ITEM_SEQ_LEN])}))
    model.train()
    loss = model.calculate_loss(batch)
    assert seq[:, 0].min() > 0 and torch.isfinite(loss) and loss > 0
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_next_two_model_decodes_pairs_of_distinct_items(sid_model_settings):
    _, dataset, (_, _, test), model, _ = build_model("MaskGR", dict(sid_model_settings, **SID_ONLY, next_k=2))
    model.eval()
    interaction = first_batch(test)[torch.arange(16)]
    with torch.no_grad():
        items, scores = model.decode_next_items(interaction)  # [U, B, 2]
        ranking = model.full_sort_predict(interaction)  # the first items, RecBole's layout
    assert items.shape == (16, model.specs["test"].beam_width, 2)
    live = torch.isfinite(scores)
    assert live[:, 0].all() and ((items[live] >= 1) & (items[live] < dataset.item_num)).all()
    assert (items[live][:, 0] != items[live][:, 1]).all()
    assert torch.equal(ranking.argmax(1), items[:, 0, 0])  # the best pair's first item ranks first


def test_one_item_model_decodes_what_it_ranks(sid_model_settings):
    _, _, (_, _, test), model, _ = build_model("MaskGR", dict(sid_model_settings, **SID_ONLY))
    model.eval()
    interaction = first_batch(test)[torch.arange(16)]
    with torch.no_grad():
        items, scores = model.decode_next_items(interaction)  # [U, B, 1]
        ranking = model.full_sort_predict(interaction)
    top = ranking.topk(model.specs["test"].beam_width, dim=1).indices  # [U, B]
    assert torch.equal(top, items[..., 0])


def test_next_k_needs_the_item_layout(sid_model_settings):
    with pytest.raises(ConfigError, match=r"next_k > 1 needs history_tokens: items"):
        build_model("MaskGR", dict(sid_model_settings, **SID_ONLY, next_k=2, history_tokens="codes", clean_history_share=0.5))
