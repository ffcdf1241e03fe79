"""MaskGR's dense-retrieval variant (issue 12): text vectors in, a head to the text space out."""

import math
import shutil

import pytest
import torch
import torch.nn.functional as F

from recbole_maskgr import quick_start
from recbole_maskgr.config import ConfigError
from recbole_maskgr.model.dense import DenseRetrieval, catalogue_contrastive_loss
from recbole_maskgr.trainer.checkpoint import safe_load, write_checkpoint

from conftest import build_model, first_batch


def test_contrastive_loss_by_hand():
    catalogue = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    query = torch.tensor([[1.0, 0.0]])
    total, count = catalogue_contrastive_loss(query, catalogue, torch.tensor([1]), temperature=0.5)
    expected = -math.log(math.exp(0.0) / (math.exp(2.0) + math.exp(0.0)))  # cosines 1 and 0, / 0.5
    assert total.item() == pytest.approx(expected, rel=1e-6) and count.item() == 1


def test_nearest_items_are_the_brute_force_cosine_neighbours():
    torch.manual_seed(0)
    text = torch.cat([torch.zeros(1, 6), torch.randn(30, 6)])  # padding row first
    dense = DenseRetrieval(text, d_model=8, temperature=0.1)
    states = torch.randn(4, 3, 8)  # [N, H, d]
    indices, cosines = dense.nearest_items(states, 5)
    brute = dense.query(states) @ F.normalize(text[1:], dim=-1).T  # [4, 30]
    expected = brute.topk(5, dim=1)
    assert torch.equal(indices, expected.indices)
    torch.testing.assert_close(cosines, expected.values, atol=1e-5, rtol=0)


def test_history_vectors_of_padding_are_zero():
    dense = DenseRetrieval(torch.cat([torch.zeros(1, 6), torch.randn(5, 6)]), d_model=8, temperature=0.1)
    out = dense.history_vectors(torch.tensor([[0, 2, 3]]))
    assert out.shape == (1, 3, 8) and torch.equal(out[0, 0], torch.zeros(8)) and out[0, 1].abs().sum() > 0


def test_dense_loss_on_every_nth_step_only(sid_model_settings):
    settings = dict(sid_model_settings, dense_retrieval=True, dense_every=3, dense_loss_weight=100.0)
    _, _, (train, _, _), model, _ = build_model("MaskGR", settings)
    batch = first_batch(train)
    model.train()
    torch.manual_seed(0)
    losses = [model.calculate_loss(batch).item() for _ in range(6)]
    dense_steps = [i for i, loss in enumerate(losses) if loss > 100]  # weight 100 x CE over ~1k items
    assert dense_steps == [0, 3]


def dense_trainer(settings):
    """A fresh dense-retrieval MaskGR: (model, trainer, train loader, the trainer's global steps on
    which the dense loss runs (once per batch chunk), filled as it trains)."""
    _, _, (train, _, _), model, trainer = build_model("MaskGR", settings)
    dense_steps, dense_loss = set(), model.dense.loss_terms

    def recorded(*args):
        dense_steps.add(trainer.train_steps)
        return dense_loss(*args)

    model.dense.loss_terms = recorded
    return model, trainer, train, dense_steps


def test_a_resumed_run_takes_the_same_dense_steps_and_weights(sid_model_settings, workdir, caplog):
    """The dense steps follow the trainer's global step, which checkpoints keep: resumed mid-epoch from
    a checkpoint (or an older one without the step count), a run ends as the uninterrupted one."""
    settings = dict(sid_model_settings, dense_retrieval=True, dense_every=3, epochs=2, checkpoint_every_steps=1)
    whole, trainer, train, whole_steps = dense_trainer(settings)
    stop = len(train) + (1 if (len(train) + 1) % 3 else 2)  # in epoch 1, off the dense steps
    write, mid_run = trainer._write, workdir / "mid-run.pth"

    def keep_mid_run(state, path, verbose):
        write(state, path, verbose)
        if state["position"]["train_steps"] == stop and state["position"]["batches_done"]:
            shutil.copy(path, mid_run)

    trainer._write = keep_mid_run
    trainer.fit(train)
    assert sorted(whole_steps) == list(range(0, 2 * len(train), 3))
    old = safe_load(str(mid_run))
    del old["position"]["train_steps"]  # as written before checkpoints counted steps
    write_checkpoint(old, str(workdir / "no-count.pth"))

    for checkpoint in (mid_run, workdir / "no-count.pth"):
        resumed, trainer, train, resumed_steps = dense_trainer(settings)
        trainer.resume_checkpoint(str(checkpoint))
        with caplog.at_level("INFO"):
            trainer.fit(train)
        assert resumed_steps == {step for step in whole_steps if step >= stop}
        for name, tensor in whole.state_dict().items():
            assert torch.equal(resumed.state_dict()[name], tensor), name
    assert f"resuming at optimizer step {stop} (1 epochs x {len(train)} batches + {stop - len(train)}" in caplog.text


@pytest.mark.parametrize("dense_layer", [0, 1])
def test_dense_decoding_lists_the_heads_neighbours_first(sid_model_settings, dense_layer):
    """The head's query comes from the layer `dense_layer` names: the last (0) or block 1 of 2."""
    settings = dict(sid_model_settings, dense_retrieval=True, test_decoding="dense", n_layers=2, dense_layer=dense_layer)
    _, dataset, (_, _, test), model, _ = build_model("MaskGR", settings)
    assert dataset.item_text_vectors.shape == (dataset.item_num, 384)  # the tokenizer's MiniLM vectors
    model.eval()
    interaction = first_batch(test)[torch.arange(12)]
    width = model.specs["test"].beam_width
    with torch.no_grad():
        ranking = model.full_sort_predict(interaction)[:, 1:]  # [U, n_items - 1]
        blocks = []
        states = model._all_masked_states(model._decoding_context(interaction), blocks)  # [U, H, d]
        read = states if dense_layer == 0 else blocks[0]
        other = blocks[0] if dense_layer == 0 else states
        neighbours, _ = model.dense.nearest_items(read, width)
        elsewhere, _ = model.dense.nearest_items(other, width)
    assert len(blocks) == 2 and torch.allclose(model.encoder.norm(blocks[1]), states, atol=1e-6)
    assert torch.equal(ranking.topk(width, dim=1).indices, neighbours)
    assert not torch.equal(neighbours, elsewhere)  # the other layer would rank otherwise


@pytest.mark.parametrize("dense_layer,trained_last_block", [(1, False), (0, True)])
def test_the_dense_loss_reaches_only_the_blocks_below_its_layer(sid_model_settings, dense_layer, trained_last_block):
    """On an intermediate block (the paper's design) the dense loss cannot train the blocks above it."""
    settings = dict(sid_model_settings, dense_retrieval=True, n_layers=2, dense_layer=dense_layer)
    _, _, (train, _, _), model, _ = build_model("MaskGR", settings)
    model.train()
    terms = model.objective.chunk_terms(model, first_batch(train)[torch.arange(16)], dense_step=True,
                                        candidates=model._item_candidates())  # (the default has the item head)
    total, count = terms["dense"]
    (total / count).backward()
    last, first = model.encoder.blocks[1], model.encoder.blocks[0]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in first.ff.parameters())
    last_grads = [p.grad for p in last.ff.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in last_grads) == trained_last_block
    norm_weight = getattr(model.dense.norm_in, "weight", None)  # its own norm, intermediate layers only
    assert (norm_weight is not None and norm_weight.grad is not None) == (dense_layer > 0)


def test_dense_retrieval_runs_end_to_end(sid_model_settings):
    result = quick_start.run("MaskGR", "ml-100k", config_dict=dict(sid_model_settings, dense_retrieval=True,
                                                                     test_decoding="dense"))
    assert result["test_result"]["recall@10"] > 0.0


@pytest.mark.parametrize("extra,message", [
    ({"dense_retrieval": True, "history_tokens": "codes", "clean_history_share": 0.5},
     r"dense_retrieval needs history_tokens: items"),
    ({"test_decoding": "dense"}, r"test_decoding: dense needs dense_retrieval: True"),
    ({"dense_retrieval": True, "next_k": 2}, r"cannot be combined with next_k > 1"),
    ({"dense_retrieval": True, "n_layers": 2, "dense_layer": 2}, r"dense_layer 2 names no intermediate block of a "
                                                                  r"2-layer encoder. Set --dense_layer to 0 \(the last layer's output\) or 1 \(the intermediate block\)\.$"),
])
def test_dense_settings_are_checked_before_loading(tiny, extra, message):
    with pytest.raises(ConfigError, match=message):
        quick_start.run("MaskGR", "ml-100k", config_dict=dict(tiny, **extra))
