"""TIGER: teacher forcing without look-ahead, KV-cached decoding, constrained AR beam search, RecBole runs."""

import math

import pytest
import torch

from recbole_maskgr import quick_start
from recbole_maskgr.decoding import SIDCatalogue, masked_beam_search
from recbole_maskgr.decoding.ar_beam import autoregressive_beam_search
from recbole_maskgr.model.tiger import CausalDecoder, shift_right, sid_log_likelihood, tied_level_logits

from conftest import (
    assert_full_sort_contract, assert_training_lowers_loss, build_model, first_batch, scores_alone_and_among_batch_mates
)


@pytest.fixture(autouse=True)
def one_thread():
    """On a shared 2-core machine two intra-op threads spin against other jobs (~100x slower steps)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------- decoder math
def test_shift_right_by_hand():
    codes = torch.tensor([[2, 0, 1], [1, 3, 3]])  # K = 4, H = 3
    assert shift_right(codes, 4, bos_id=12).tolist() == [[12, 2, 4], [12, 1, 7]]


def test_sid_log_likelihood_sums_levels():
    log_probs = torch.log(torch.tensor([[[0.5, 0.5], [0.2, 0.8]]]))  # [1, H=2, K=2]
    assert sid_log_likelihood(log_probs, torch.tensor([[1, 0]])).item() == pytest.approx(math.log(0.5 * 0.2))


H, K, D = 3, 5, 16


@pytest.fixture
def decoder_parts():
    torch.manual_seed(0)
    emb = torch.nn.Embedding(H * K + 2, D)
    decoder = CausalDecoder(H, D, n_layers=2, n_heads=2, d_ff=32, dropout=0.0).eval()
    memory = torch.randn(4, 6, D)  # [N, S, d]
    mask = torch.ones(4, 6, dtype=torch.bool)
    mask[:, :2] = False  # left padding
    codes = torch.randint(0, K, (4, H))
    return emb, decoder, memory, mask, codes


def full_logits(emb, decoder, memory, mask, codes):
    hidden, _ = decoder(emb(shift_right(codes, K, H * K)), decoder.memory_kv(memory), mask)  # [N, H, d]
    return tied_level_logits(hidden, emb.weight[: H * K].view(H, K, D))  # [N, H, K]


@torch.no_grad()
def test_teacher_forcing_has_no_look_ahead(decoder_parts):
    emb, decoder, memory, mask, codes = decoder_parts
    base = full_logits(emb, decoder, memory, mask, codes)
    for j in range(H - 1):  # code j is the input of position j + 1
        changed = codes.clone()
        changed[:, j] = (changed[:, j] + 1) % K
        out = full_logits(emb, decoder, memory, mask, changed)
        torch.testing.assert_close(out[:, : j + 1], base[:, : j + 1], rtol=0, atol=1e-6)
        assert (out[:, j + 1 :] - base[:, j + 1 :]).abs().amax(-1).gt(1e-4).all()
    # the last code is never an input; padded memory slots are never read
    changed = codes.clone()
    changed[:, -1] = (changed[:, -1] + 1) % K
    torch.testing.assert_close(full_logits(emb, decoder, memory, mask, changed), base, rtol=0, atol=0)
    noisy = memory.clone()
    noisy[:, :2] = 100.0
    torch.testing.assert_close(full_logits(emb, decoder, noisy, mask, codes), base, rtol=0, atol=1e-6)


@torch.no_grad()
def test_kv_cached_steps_equal_teacher_forced_pass(decoder_parts):
    emb, decoder, memory, mask, codes = decoder_parts
    base = full_logits(emb, decoder, memory, mask, codes)  # [N, H, K]
    code_emb = emb.weight[: H * K].view(H, K, D)
    memory_kv = decoder.memory_kv(memory)
    inputs = shift_right(codes, K, H * K)  # [N, H]
    # rows are shuffled between steps, as beams are: the cache is reordered by `parent`
    order = torch.arange(4)
    cache = None
    for level in range(H):
        parent = torch.randperm(4) if level else order
        order = order[parent]
        past = None if cache is None else [(k[parent], v[parent]) for k, v in cache]
        rows_kv = [(k[order], v[order]) for k, v in memory_kv]  # memory picked per row, as by user index
        hidden, cache = decoder(emb(inputs[order, level])[:, None], rows_kv, mask[order], start=level, past=past)
        step = tied_level_logits(hidden, code_emb, start=level)[:, 0]  # [N, K]
        torch.testing.assert_close(step, base[order, level], rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- constrained AR beam search
# H = 3, K = 3. Level 0 never uses code 2; (0, 1) and (1, 0) each name one item.
CAT3 = torch.tensor([[0, 0, 0], [0, 0, 1], [0, 1, 2], [1, 0, 0], [1, 2, 0], [1, 2, 1]])
TABLE3 = {
    (): [0.45, 0.3, 0.25],  # allowed {0, 1}: renormalised .6, .4
    (0,): [0.44, 0.36, 0.2],  # allowed {0, 1}: .55, .45
    (1,): [0.72, 0.2, 0.08],  # allowed {0, 2}: .9, .1
    (0, 0): [0.15, 0.35, 0.5],  # allowed {0, 1}: .3, .7
    (1, 2): [0.1, 0.4, 0.5],  # allowed {0, 1}: .2, .8
}
# item scores under renormalisation: .099, .231, .27, .36, .008, .032


def table_step_fn(table, K, calls):
    """step_fn from {prefix: probabilities}; records calls and checks the parent protocol."""
    state = {}

    def fn(user_index, parent, prefix):
        if prefix.shape[1]:  # the previous call's row `parent` holds this row's prefix minus one code
            assert torch.equal(state["prefix"][parent], prefix[:, :-1])
            assert torch.equal(state["users"][parent], user_index)
        state.update(prefix=prefix, users=user_index)
        calls.append(prefix.tolist())
        rows = [torch.tensor(table.get(tuple(p), [1.0 / K] * K), dtype=torch.float64) for p in prefix.tolist()]
        return torch.stack(rows).clamp(min=1e-300).log()

    return fn


def test_hand_table_beam_beats_greedy_with_exact_scores():
    cat = SIDCatalogue(CAT3, 3)
    calls = []
    res = autoregressive_beam_search(table_step_fn(TABLE3, 3, calls), 1, 3, 3, 2, cat)
    # level 1 candidates: (1,0) .36 (-> item 3, complete), (0,0) .33, (0,1) .27, (1,2) .04
    # level 2: only (0,0) needs a call: (0,0,1) .231 beats (0,0,0) .099; (1,0,0) carries over
    assert res.items.tolist() == [[3, 1]]
    assert res.tokens.tolist() == [[[1, 0, 0], [0, 0, 1]]]
    torch.testing.assert_close(res.scores, torch.log(torch.tensor([[0.36, 0.231]], dtype=torch.float64)))
    assert calls == [[[]], [[0], [1]], [[0, 0]]]
    assert res.nfe == 3 and res.rows == 4
    greedy = autoregressive_beam_search(table_step_fn(TABLE3, 3, []), 1, 3, 3, 1, cat)
    assert greedy.items.tolist() == [[1]]  # (0) .6 -> (0,0) -> (0,0,1): misses the best item


def test_hand_table_exhaustive_beam_and_padding():
    cat = SIDCatalogue(CAT3, 3)
    res = autoregressive_beam_search(table_step_fn(TABLE3, 3, []), 1, 3, 3, 8, cat)
    assert res.items.tolist() == [[3, 2, 1, 0, 5, 4, -1, -1]]
    expected = torch.log(torch.tensor([0.36, 0.27, 0.231, 0.099, 0.032, 0.008], dtype=torch.float64))
    torch.testing.assert_close(res.scores[0, :6], expected)
    assert (res.scores[0, 6:] == -math.inf).all() and (res.tokens[0, 6:] == -1).all()
    assert torch.equal(res.tokens[0, :6], CAT3[res.items[0, :6]])


def random_step_fn(n_users, H, K, seed):
    """Log-probs that depend on the user, the level and every code of the prefix."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n_users, H, K, generator=g) * 2
    Bt = torch.randn(H, H, K + 1, K, generator=g)

    def logits(user_index, prefix):
        level = prefix.shape[1]
        out = A[user_index, level].clone()  # [N, K]
        for j in range(level):
            out += Bt[level, j, prefix[:, j] + 1]
        return out.log_softmax(-1)

    return logits


def random_catalogue(seed, n, H, K):
    g = torch.Generator().manual_seed(seed)
    return torch.unique(torch.randint(0, K, (n, H), generator=g), dim=0)


def brute_force_scores(fn, user, codes, K):
    """Renormalised chain score of every catalogue item, by enumeration."""
    H = codes.shape[1]
    out = []
    for item in codes.tolist():
        total = 0.0
        for level in range(H):
            allowed = {c[level] for c in codes.tolist() if c[:level] == item[:level]}
            lp = fn(torch.tensor([user]), torch.tensor([item[:level]], dtype=torch.long).view(1, level))[0]
            mask = torch.tensor([t in allowed for t in range(K)])
            total += (lp[item[level]] - lp[mask].logsumexp(0)).item()
        out.append(total)
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("seed", range(3))
def test_wide_beam_equals_enumeration_and_items_are_valid(seed):
    H, K, U = 3, 4, 3
    codes = random_catalogue(seed, 25, H, K)
    cat = SIDCatalogue(codes, K)
    fn = random_step_fn(U, H, K, seed)
    res = autoregressive_beam_search(lambda u, p, prefix: fn(u, prefix), U, H, K, len(codes), cat)
    for u in range(U):
        expected = brute_force_scores(fn, u, codes, K)
        assert sorted(res.items[u].tolist()) == list(range(len(codes)))  # every item once, nothing else
        torch.testing.assert_close(res.scores[u].double(), expected[res.items[u]], rtol=0, atol=1e-5)
        assert (res.scores[u, :-1] >= res.scores[u, 1:]).all()
        assert torch.equal(res.tokens[u], codes[res.items[u]])


@pytest.mark.parametrize("invalid", ["constrained", "projection"])
def test_batched_equals_one_by_one(invalid):
    H, K, B, U = 4, 5, 7, 5
    codes = random_catalogue(3, 60, H, K)
    cat = SIDCatalogue(codes, K)
    fn = random_step_fn(U, H, K, 1)
    res = autoregressive_beam_search(lambda u, p, prefix: fn(u, prefix), U, H, K, B, cat, invalid=invalid)
    for u in range(U):
        one = autoregressive_beam_search(lambda ui, p, prefix: fn(ui + u, prefix), 1, H, K, B, cat, invalid=invalid)
        assert torch.equal(one.items[0], res.items[u]) and torch.equal(one.tokens[0], res.tokens[u])
        torch.testing.assert_close(one.scores[0], res.scores[u], rtol=0, atol=1e-6)
        valid = res.items[u] >= 0
        assert len(set(res.items[u][valid].tolist())) == int(valid.sum())  # never a duplicate
        if invalid == "constrained":
            assert torch.equal(res.tokens[u][valid], codes[res.items[u][valid]])


def test_projection_matches_left_to_right_masked_search():
    """Without constraints the masked search in left-to-right order is the same search."""
    H, K, B, U = 3, 4, 6, 4
    cat = SIDCatalogue(random_catalogue(7, 30, H, K), K)
    fn = random_step_fn(U, H, K, 2)

    def masked_fn(user_index, target):  # the level to fill is the first masked position
        level = int((target >= 0).sum(1).max())
        rows = fn(user_index, target[:, :level])  # [N, K]
        return rows[:, None].expand(-1, H, -1)

    ar = autoregressive_beam_search(lambda u, p, prefix: fn(u, prefix), U, H, K, B, cat, invalid="projection")
    masked = masked_beam_search(masked_fn, U, H, K, B, order="left-to-right", catalogue=cat, invalid="projection")
    assert torch.equal(ar.items, masked.items) and torch.equal(ar.tokens, masked.tokens)
    torch.testing.assert_close(ar.scores, masked.scores)
    assert ar.nfe == masked.nfe == H and ar.rows == masked.rows == U * (1 + K + B)


def test_empty_batch_and_validation():
    cat = SIDCatalogue(CAT3, 3)
    res = autoregressive_beam_search(table_step_fn(TABLE3, 3, []), 0, 3, 3, 4, cat)
    assert res.items.shape == (0, 4) and res.tokens.shape == (0, 4, 3) and res.nfe == 0
    with pytest.raises(ValueError, match="needs a catalogue"):
        autoregressive_beam_search(table_step_fn(TABLE3, 3, []), 1, 3, 3, 4, None)
    with pytest.raises(ValueError, match="catalogue has H=3"):
        autoregressive_beam_search(table_step_fn(TABLE3, 3, []), 1, 2, 3, 4, cat)
    with pytest.raises(ValueError, match="step_fn returned shape"):
        autoregressive_beam_search(lambda u, p, prefix: torch.zeros(len(u), 2), 1, 3, 3, 4, cat)


# ---------------------------------------------------------------- the RecBole model
@pytest.fixture
def tiger_settings(sid_model_settings):
    return dict(sid_model_settings, n_decoder_layers=1)


def build_tiger(settings):
    return build_model("TIGER", settings)


def test_full_sort_predict_contract_and_cached_likelihood(tiger_settings):
    config, dataset, (_, _, test), model, _ = build_tiger(tiger_settings)
    model.eval()
    interaction = first_batch(test)
    _, stats = assert_full_sort_contract(config, dataset, model, interaction)
    users = interaction[model.ITEM_SEQ].shape[0]
    assert stats["passes"] > users  # beams: more network rows than users
    with torch.no_grad():

        # predict = teacher-forced likelihood = the same sum from the KV-cached decoding steps
        items = torch.randint(1, dataset.item_num, (users,))
        interaction.update(type(interaction)({model.ITEM_ID: items}))
        single = model.predict(interaction)
        memory, memory_mask = model._memory(interaction)
        step_fn = model.make_step_fn(memory, memory_mask)
        codes = model.item_sid[items]  # [U, H]
        rows = torch.arange(users)
        cached = sum(step_fn(rows, rows, codes[:, :level])[rows, codes[:, level]] for level in range(model.sid_length))
    torch.testing.assert_close(single, cached, rtol=1e-5, atol=1e-4)


def test_training_lowers_the_loss(tiger_settings):
    _, _, (train, _, _), model, _ = build_tiger(dict(tiger_settings, dropout_prob=0.0))
    batch = first_batch(train)[torch.arange(128)]
    assert_training_lowers_loss(model, batch, steps=30)


def test_bad_decoding_settings_are_refused(tiger_settings):
    with pytest.raises(ValueError, match=r"beam_width \(5\) is below max\(topk\) \(10\)"):
        build_tiger(dict(tiger_settings, beam_width=5))
    with pytest.raises(ValueError, match=r"valid_decoding must be one of \('beam',\) for TIGER, got 'marginal'"):
        build_tiger(dict(tiger_settings, valid_decoding="marginal"))


def test_tiger_end_to_end(tiger_settings):
    # one training sample per user keeps the epoch short (and exercises prepare_train_dataset)
    result = quick_start.run("TIGER", "ml-100k", config_dict=dict(tiger_settings, train_samples="sequence"))
    assert result["model"] == "TIGER"
    assert result["decode_stats"]["users"] == result["test_users"]  # every test user decoded by beams
    assert result["test_result"]["ndcg@10"] <= result["test_result"]["recall@10"]  # one target per user


def test_prediction_does_not_depend_on_batch_mates(tiger_settings):
    _, _, (train, _, _), model, _ = build_tiger(tiger_settings)
    model.eval()
    together, alone = scores_alone_and_among_batch_mates(model, first_batch(train), model.full_sort_predict)
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-4)
