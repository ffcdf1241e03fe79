import math

import pytest
import torch
import torch.nn.functional as F

from recbole_maskgr import quick_start
from recbole_maskgr.decoding.spec import parse_schedule, split_schedule
from recbole_maskgr.model.diffusion import (
    diffusion_loss, diffusion_loss_terms, force_mask, items_to_tokens, mask_target_only, mask_tokens,
    mask_whole_items, mix_objectives, right_align, weighted_mean,
)
from recbole_maskgr.model.objectives import row_weights
from recbole_maskgr.trainer.sid_trainer import warmup_linear_decay

from conftest import (
    SID_ONLY, assert_full_sort_contract, assert_training_lowers_loss, build_model, first_batch,
    scores_alone_and_among_batch_mates,
)


# ---------------------------------------------------------------- pure functions
def test_masking_rate_matches_t_and_spares_padding():
    g = torch.Generator().manual_seed(0)
    tokens = torch.arange(200_000).view(2, 100_000) % 7
    maskable = torch.ones_like(tokens, dtype=torch.bool)
    maskable[:, :1000] = False
    t = torch.tensor([0.3, 0.8])
    noised, masked = mask_tokens(tokens, maskable, t, mask_id=99, generator=g)
    rates = masked[:, 1000:].float().mean(1)
    assert torch.allclose(rates, t, atol=0.01)
    assert not masked[:, :1000].any()
    assert (noised[masked] == 99).all() and torch.equal(noised[~masked], tokens[~masked])


def test_force_mask_adds_positions():
    noised = torch.tensor([[1, 2, 3]])
    masked = torch.tensor([[True, False, False]])
    out, now = force_mask(noised, masked, torch.tensor([[False, False, True]]), mask_id=9)
    assert out.tolist() == [[1, 2, 9]] and now.tolist() == [[True, False, True]]


def test_loss_is_weighted_mean_over_masked_positions_by_hand():
    # two sequences, K = 2; sequence 0 has t = 0.5 (w = 2), sequence 1 has t = 0.25 (w = 4)
    logits = torch.tensor([[[0.0, 0.0], [2.0, 0.0]], [[0.0, math.log(3.0)], [5.0, 5.0]]])
    targets = torch.tensor([[0, 1], [1, 0]])
    masked = torch.tensor([[True, True], [True, False]])
    weights = 1.0 / torch.tensor([0.5, 0.25])
    ce00 = math.log(2.0)  # uniform over 2
    ce01 = -math.log(math.exp(0.0) / (math.exp(2.0) + 1.0))
    ce10 = -math.log(3.0 / 4.0)
    expected = (2 * ce00 + 2 * ce01 + 4 * ce10) / (2 + 2 + 4)
    assert diffusion_loss(logits, targets, masked, weights).item() == pytest.approx(expected, rel=1e-6)


def test_loss_without_masked_tokens_is_zero_with_a_graph():
    logits = torch.randn(2, 3, 4, requires_grad=True)
    loss = diffusion_loss(logits, torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3, dtype=torch.bool), torch.ones(2))
    loss.backward()
    assert loss.item() == 0.0 and logits.grad is not None and torch.isfinite(logits.grad).all()


def test_right_align_and_token_layout_by_hand():
    items = torch.tensor([[5, 6, 0, 0], [7, 0, 0, 0]])
    assert right_align(items, torch.tensor([2, 1])).tolist() == [[0, 0, 5, 6], [0, 0, 0, 7]]
    item_sid = torch.tensor([[0, 0], [1, 2], [3, 0]])  # item 1 = (1, 2), item 2 = (3, 0); K = 4
    tokens, codes, real = items_to_tokens(torch.tensor([[0, 1, 2]]), item_sid, codebook_size=4, pad_id=8)
    assert tokens.tolist() == [[8, 8, 1, 6, 3, 4]]  # level 1 codes are offset by K = 4
    assert codes.tolist() == [[0, 0, 1, 2, 3, 0]]
    assert real.tolist() == [[False, False, True, True, True, True]]


def test_decode_schedules():
    assert split_schedule(5, 5) == [1, 1, 1, 1, 1]
    assert split_schedule(5, 2) == [3, 2]
    assert split_schedule(5, 1) == [5]
    assert parse_schedule(None, 5) == [1] * 5 and parse_schedule([2, 3], 5) == [2, 3]
    with pytest.raises(ValueError, match="add up to the SID length 5"):
        parse_schedule([2, 2], 5)
    with pytest.raises(ValueError, match="between 1 and 5"):
        parse_schedule(6, 5)


def test_warmup_then_linear_decay():
    assert warmup_linear_decay(0, 10, 110, 0.3) == pytest.approx(0.1)
    assert warmup_linear_decay(9, 10, 110, 0.3) == pytest.approx(1.0)
    assert warmup_linear_decay(60, 10, 110, 0.3) == pytest.approx(0.65)
    assert warmup_linear_decay(500, 10, 110, 0.3) == pytest.approx(0.3)


def test_the_learning_rate_follows_the_schedule_at_every_step(sid_model_settings):
    settings = dict(sid_model_settings, epochs=2, warmup_steps=3, lr_final_ratio=0.5)
    _, _, (train, valid, _), model, trainer = build_model("MaskGR", settings)
    seen, loss = [], model.calculate_loss

    def recorded(interaction):
        seen.append((trainer.train_steps, trainer.optimizer.param_groups[0]["lr"]))
        return loss(interaction)

    model.calculate_loss = recorded
    trainer.fit(train, valid, saved=False)
    steps = [step for step, _ in seen]
    assert steps == list(range(2 * len(train)))  # one loss per optimizer step, both epochs
    expected = [trainer.learning_rate * warmup_linear_decay(step, 3, 2 * len(train), 0.5) for step in steps]
    assert [lr for _, lr in seen] == pytest.approx(expected)
    assert seen[-1][1] < seen[3][1]  # decaying after the warm-up


# ---------------------------------------------------------------- the RecBole model
def build_maskgr(settings):
    """The SID-only model unless `settings` turn the item levers on."""
    return build_model("MaskGR", {**SID_ONLY, **settings})


def test_full_sort_predict_contract(sid_model_settings):
    config, dataset, (train, valid, test), model, _ = build_maskgr(sid_model_settings)
    model.eval()
    assert_full_sort_contract(config, dataset, model, first_batch(test))


def test_predict_matches_one_pass_marginal_scores(sid_model_settings):
    settings = dict(sid_model_settings, test_decoding="marginal")
    _, dataset, (_, _, test), model, _ = build_maskgr(settings)
    model.eval()
    interaction = first_batch(test)
    with torch.no_grad():
        full = model.full_sort_predict(interaction)
        items = torch.randint(1, dataset.item_num, (full.shape[0],))
        interaction.update(type(interaction)({model.ITEM_ID: items}))
        single = model.predict(interaction)
    assert torch.allclose(single, full[torch.arange(full.shape[0]), items], atol=1e-5)


def test_paper_objective_training_lowers_the_loss(sid_model_settings):
    paper = {"clean_history_share": 0.0, "history_tokens": "codes", "target_mask_prob": 0.0}
    _, _, (train, _, _), model, trainer = build_maskgr(dict(sid_model_settings, dropout_prob=0.0, **paper))
    batch = first_batch(train)
    assert_training_lowers_loss(model, batch, steps=40)


def test_beam_width_below_topk_is_refused(sid_model_settings):
    with pytest.raises(ValueError, match=r"beam_width \(5\) is below max\(topk\) \(10\)"):
        build_maskgr(dict(sid_model_settings, beam_width=5))


def test_maskgr_end_to_end_with_checkpoint_round_trip(sid_model_settings):
    result = quick_start.run("MaskGR", "ml-100k", config_dict=sid_model_settings)
    config, net, dataset, train, valid, test = quick_start.load_data_and_model(result["saved_model_file"])
    trainer = quick_start.get_trainer(config)(config, net)
    again = trainer.evaluate(test, load_best_model=False)
    assert {k: float(v) for k, v in again.items()} == {k: float(v) for k, v in result["test_result"].items()}
    assert trainer.last_decode_stats["users"] == len(test.dataset)  # every test user decoded once


@pytest.mark.parametrize(
    "layout",
    [{"history_tokens": "items"}, {"history_tokens": "codes"},
     {"history_tokens": "items", "history_attention": "history_only"}],
)
def test_prediction_does_not_depend_on_batch_mates(sid_model_settings, layout):
    _, _, (train, _, _), model, _ = build_maskgr(dict(sid_model_settings, **layout))
    model.eval()
    together, alone = scores_alone_and_among_batch_mates(model, first_batch(train), lambda batch: model._one_pass(batch)[1])
    assert torch.allclose(together, alone, atol=1e-5)
    assert F.softmax(alone, -1).sum(-1).sub(1).abs().max() < 1e-5


def test_whole_item_masking_masks_all_tokens_of_an_item_together():
    g = torch.Generator().manual_seed(1)
    sid_length, items = 4, 5000
    tokens = torch.arange(2 * items * sid_length).view(2, -1) % 50
    maskable = torch.ones_like(tokens, dtype=torch.bool)
    rows = torch.tensor([True, False])
    t = torch.tensor([0.4, 0.4])
    noised, masked = mask_whole_items(tokens, maskable, t, mask_id=99, sid_length=sid_length, rows=rows, generator=g)
    per_item = masked.view(2, items, sid_length)
    assert (per_item[0].all(-1) | ~per_item[0].any(-1)).all()  # row 0: items all-or-nothing
    assert per_item[1].any(-1).float().mean() > 0.6  # row 1: token-level, items partly masked
    assert torch.allclose(masked.float().mean(1), t, atol=0.02)
    assert (noised[masked] == 99).all()


def test_rank_beyond_beams_is_an_explicit_opt_in(sid_model_settings):
    _, dataset, (_, _, test), model, _ = build_maskgr(dict(sid_model_settings, beam_width=5, rank_beyond_beams=True))
    model.eval()
    with torch.no_grad():
        scores = model.full_sort_predict(first_batch(test))
    assert torch.isfinite(scores[:, 1:]).all() and not torch.isnan(scores).any()


def test_loss_terms_of_chunks_combine_into_the_batch_loss():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(6, 5, 4, generator=g)
    targets = torch.randint(0, 4, (6, 5), generator=g)
    masked = torch.rand(6, 5, generator=g) < 0.5
    weights = torch.rand(6, generator=g) + 0.5
    whole = diffusion_loss(logits, targets, masked, weights)
    parts = [diffusion_loss_terms(logits[s], targets[s], masked[s], weights[s]) for s in (slice(0, 2), slice(2, 6))]
    combined = weighted_mean(sum(p[0] for p in parts), sum(p[1] for p in parts))
    assert torch.allclose(whole, combined)


# ---------------------------------------------------------------- clean-history rows (issue 10)
def test_clean_history_rows_mask_only_the_target_item():
    g = torch.Generator().manual_seed(3)
    sid_length, n_items = 5, 4
    tokens = torch.arange(2 * n_items * sid_length).view(2, -1) + 1000  # [2, 20]
    real = torch.ones_like(tokens, dtype=torch.bool)
    real[1, :sid_length] = False  # row 1: the oldest item slot is padding
    t = torch.tensor([1.0, 1.0])  # t = 1: every maskable token is masked
    noised, masked = mask_target_only(tokens, real, t, mask_id=7, sid_length=sid_length, generator=g)
    assert masked[:, -sid_length:].all() and not masked[:, :-sid_length].any()  # history untouched
    assert torch.equal(noised[:, :-sid_length], tokens[:, :-sid_length]) and (noised[:, -sid_length:] == 7).all()
    # at t = 0.3 about 30% of the target tokens are masked, still never a history token
    many = tokens.repeat(5000, 1)
    noised, masked = mask_target_only(many, torch.ones_like(many, dtype=torch.bool), torch.full((10000,), 0.3), 7,
                                      sid_length, generator=g)
    assert not masked[:, :-sid_length].any() and masked[:, -sid_length:].float().mean().item() == pytest.approx(0.3, abs=0.01)


def test_mixed_objective_normalises_each_part_by_hand():
    # paper rows: CE 1 with w 2 and CE 3 with w 1 -> (2*1 + 1*3) / 3 = 5/3
    # clean rows: CE 4 with w 10 -> 4 (one token; a shared token-count mean would be (5 + 40) / 13)
    terms = torch.tensor([[2.0 * 1 + 1.0 * 3, 3.0], [10.0 * 4, 10.0]])
    assert mix_objectives(terms, 0.25).item() == pytest.approx(0.75 * 5 / 3 + 0.25 * 4)
    assert mix_objectives(terms, 0.0).item() == pytest.approx(5 / 3)  # the paper's loss exactly
    assert mix_objectives(terms, 1.0).item() == pytest.approx(4.0)
    empty_clean = torch.tensor([[5.0, 3.0], [0.0, 0.0]])  # no clean row masked anything: no NaN
    assert mix_objectives(empty_clean, 0.5).item() == pytest.approx(0.5 * 5 / 3)


def test_mixed_loss_of_a_real_batch_matches_the_parts_by_hand(sid_model_settings):
    """Share 0.5 on a real batch: the model's loss is the mean of the two parts' own weighted means."""
    _, _, (train, _, _), model, _ = build_maskgr(dict(sid_model_settings, clean_history_share=0.5,
                                                      history_tokens="codes", dropout_prob=0.0))
    batch = first_batch(train)
    batch = batch[torch.argsort(batch[model.ITEM_SEQ_LEN], stable=True)]  # the order calculate_loss uses
    torch.manual_seed(5)
    terms = model.objective.chunk_terms(model, batch)  # one chunk: named terms [2] each
    paper, clean = terms["paper"], terms["clean"]
    assert set(terms) == {"paper", "clean"} and paper[1] > 0 and clean[1] > 0  # both kinds of rows are present
    expected = 0.5 * paper[0] / paper[1] + 0.5 * clean[0] / clean[1]
    model.train_chunk_sequences = 10**6  # one chunk, same random draws
    torch.manual_seed(5)
    assert model.calculate_loss(batch).item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize("layout, attention", [("codes", "all"), ("items", "all"), ("items", "history_only")])
def test_clean_history_model_learns_and_decodes(sid_model_settings, layout, attention):
    settings = dict(sid_model_settings, clean_history_share=1.0, history_tokens=layout, target_mask_prob=0.0,
                    dropout_prob=0.0, history_attention=attention)
    config, dataset, (train, _, test), model, _ = build_maskgr(settings)
    assert_training_lowers_loss(model, first_batch(train), steps=80)  # only H tokens per row carry a loss
    model.eval()
    assert_full_sort_contract(config, dataset, model, first_batch(test))


def test_item_layout_without_clean_history_is_refused(sid_model_settings):
    with pytest.raises(ValueError, match=r"history_tokens: items needs clean_history_share: 1 \(got 0.5\)"):
        build_maskgr(dict(sid_model_settings, clean_history_share=0.5, history_tokens="items"))


def test_uniform_loss_weight_counts_every_masked_token_once(sid_model_settings):
    settings = dict(sid_model_settings, clean_history_share=1.0, history_tokens="items", target_mask_prob=0.0)
    _, _, _, model, _ = build_maskgr(dict(settings, loss_weight="uniform"))
    t = torch.tensor([0.1, 0.5])
    assert model.objective.loss_weight == "uniform" and row_weights(t, "uniform").tolist() == [1.0, 1.0]
    assert torch.allclose(row_weights(t, "inverse_t"), torch.tensor([10.0, 2.0]))
    with pytest.raises(ValueError, match="'loss_weight' in config_dict must be 'inverse_t'"):
        build_maskgr(dict(settings, loss_weight="1/t"))


@pytest.mark.parametrize("layout", ["items", "codes"])
def test_cached_decoding_passes_equal_the_uncached_model(sid_model_settings, layout):
    """history_only: each user's history is encoded once; every beam's pass must still give the
    log-probs of a full pass of the same model over history + target slots."""
    settings = dict(sid_model_settings, clean_history_share=1.0, history_tokens=layout, history_attention="history_only")
    _, _, (train, _, _), model, _ = build_maskgr(settings)
    model.eval()
    interaction = first_batch(train)[torch.arange(40)]  # prefixes of every length
    lengths = interaction[model.ITEM_SEQ_LEN]
    assert lengths.min() < lengths.max()  # ragged histories, left-padded
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        context = model._decoding_context(interaction)
        user_index = torch.arange(context["users"]).repeat_interleave(3)  # three beams per user
        target = torch.randint(0, model.codebook_size, (len(user_index), model.sid_length), generator=g)  # [N, H]
        target[torch.rand(target.shape, generator=g) < 0.5] = -1  # partly unmasked beams
        target[::3] = -1  # and each user's all-masked first pass
        cached = model._target_log_probs(context, user_index, target)  # [N, H, K]
        history_inputs, history_real = model._encode_history(interaction)
        tokens = torch.where(target >= 0, model._code_tokens(target), model.mask_id)  # [N, H]
        embedded = model._embed_history(history_inputs)[user_index]
        uncached = F.log_softmax(model._slot_logits(model(embedded, history_real[user_index], tokens)), -1)
    assert "memory" in context  # the cached path was taken
    assert torch.allclose(cached, uncached, atol=1e-5)


def test_history_attention_must_be_a_known_layout(sid_model_settings):
    with pytest.raises(ValueError, match=r"'history_attention' in config_dict must be 'all' .* got 'causal'"):
        build_maskgr(dict(sid_model_settings, history_attention="causal"))


def test_forward_is_the_encoder_over_history_and_target_slots(sid_model_settings):
    """forward() is what training, predict and decoding share: with every position it equals the encoder
    run over the history's and the target's tokens at once; by default it returns the target slots."""
    settings = dict(sid_model_settings, history_tokens="codes", clean_history_share=0.0, history_attention="all")
    _, _, (train, _, _), model, _ = build_maskgr(settings)
    model.eval()
    batch = first_batch(train)[torch.arange(8)]
    items = torch.cat([model._history_items(batch), batch[model.POS_ITEM_ID][:, None]], dim=1)  # [8, T+1]
    tokens, _, real = items_to_tokens(items, model.item_sid, model.codebook_size, model.pad_id)  # [8, L]
    history, slots = tokens[:, : -model.sid_length], tokens[:, -model.sid_length :]
    with torch.no_grad():
        whole = model.encoder(tokens, real)  # [8, L, d]
        every = model(model.encoder.token_emb(history), real[:, : -model.sid_length], slots, every_position=True)
        targets = model(model.encoder.token_emb(history), real[:, : -model.sid_length], slots)
    assert every.shape == whole.shape and torch.equal(every, whole)
    assert torch.equal(targets, whole[:, -model.sid_length :])
