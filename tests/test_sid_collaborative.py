"""Collaborative SIDs: item vectors from the training split's interactions, for datasets without text."""

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from recbole_maskgr import quick_start
from recbole_maskgr.config import make_config
from recbole_maskgr.sid.collaborative import collaborative_embeddings, cooccurrence, positive_pmi
from recbole_maskgr.sid.tokenizer import SIDTokenizer

from conftest import TINY



def ml100k_inter() -> Path:
    import recbole

    return Path(recbole.__file__).resolve().parent / "dataset_example" / "ml-100k" / "ml-100k.inter"


def test_cooccurrence_and_pmi_by_hand():
    # users 0 and 1 both have items 0 and 1; user 2 has items 1 and 2 (a repeat of 2 counts once)
    users = np.array([0, 0, 1, 1, 2, 2, 2])
    items = np.array([0, 1, 0, 1, 1, 2, 2])
    counts = cooccurrence(users, items, 4).toarray()
    assert counts.tolist() == [[0, 2, 0, 0], [2, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]]
    pmi = positive_pmi(cooccurrence(users, items, 4)).toarray()
    total = 6  # sum of all counts; marginals 2, 3, 1
    assert math.isclose(pmi[0, 1], math.log(2 * total / (2 * 3)))
    assert math.isclose(pmi[1, 2], math.log(1 * total / (3 * 1)))
    assert pmi[3].sum() == 0 and (pmi >= 0).all()


def test_items_bought_together_get_close_vectors():
    rng = np.random.default_rng(0)
    users, items = [], []
    for user in range(300):  # two communities: items 0-9 and 10-19; item 20 never seen
        group = user % 2
        for item in rng.choice(10, size=4, replace=False) + 10 * group:
            users.append(user)
            items.append(item)
    vectors = collaborative_embeddings(np.array(users), np.array(items), 21, dim=8, seed=1)
    assert vectors.shape == (21, 8) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)  # the unseen item 20 too (random)
    similarity = vectors[:20] @ vectors[:20].T
    same = similarity[:10, :10].mean() + similarity[10:, 10:].mean()
    other = similarity[:10, 10:].mean() * 2
    assert same - other > 1.0
    again = collaborative_embeddings(np.array(users), np.array(items), 21, dim=8, seed=1)
    assert np.array_equal(vectors, again)  # the same SIDs every run


def interaction_only_dataset(root: Path, name: str, edit=None) -> Path:
    """RecBole's ml-100k .inter alone under a new name (no .item, no dataset config)."""
    folder = root / "data" / name
    folder.mkdir(parents=True)
    lines = ml100k_inter().read_text().splitlines()
    if edit:
        lines = edit(lines)
    (folder / f"{name}.inter").write_text("\n".join(lines) + "\n")
    return root / "data"


@pytest.mark.parametrize("model", ["MaskGR", "TIGER"])
def test_models_run_on_a_dataset_with_only_interactions(workdir, sid_cache, model, caplog):
    data = interaction_only_dataset(workdir, "ml-inter")
    settings = dict(TINY, data_path=str(data), checkpoint_dir=str(workdir / "saved"), sid_cache_dir=sid_cache,
                    beam_width=10)
    if model == "TIGER":
        settings["n_decoder_layers"] = 1
    with caplog.at_level("INFO"):
        result = quick_start.run(model, "ml-inter", config_dict=settings)
    assert result["decode_stats"]["users"] == result["test_users"] > 0  # every test user decoded by beams
    assert any("SID source: collaborative (sid_source: auto; no item text is loaded)" in r.getMessage()
               for r in caplog.records)


def held_out_rows(workdir, sid_cache, lines: list[str]) -> tuple[list[int], list[int]]:
    """Row indices (after the header) of RecBole's validation and test interactions in this file,
    and of one training interaction of each user that has them."""
    data = interaction_only_dataset(workdir / "split", "split")
    settings = dict(TINY, data_path=str(data), checkpoint_dir=str(workdir / "saved"), sid_cache_dir=sid_cache)
    dataset = quick_start.create_dataset(make_config("MaskGR", "split", config_dict=settings))
    _, valid, test = dataset.build()
    users, items = dataset.field2id_token["user_id"], dataset.field2id_token["item_id"]
    held = {(users[u], items[i]) for split in (valid, test)
            for u, i in zip(split.inter_feat["user_id"].tolist(), split.inter_feat["item_id"].tolist())}
    rows = [tuple(line.split("\t")[:2]) for line in lines[1:]]
    held_out = [index for index, pair in enumerate(rows) if pair in held]
    held_users, training, seen = {u for u, _ in held}, [], set()
    for index, (user, item) in enumerate(rows):
        if user in held_users and user not in seen and (user, item) not in held:
            training.append(index)
            seen.add(user)
    return held_out, training


def sid_by_raw_item(workdir, name, sid_cache, edit=None) -> dict:
    data = interaction_only_dataset(workdir / name, name, edit)
    settings = dict(TINY, data_path=str(data), checkpoint_dir=str(workdir / "saved"), sid_cache_dir=sid_cache)
    dataset = quick_start.create_dataset(make_config("MaskGR", name, config_dict=settings))
    dataset.build()
    tokens = dataset.field2id_token["item_id"]
    return {tokens[i]: tuple(dataset.item_sid[i].tolist()) for i in range(1, dataset.item_num)}


def rotate_items(lines: list[str], chosen: list[int]) -> list[str]:
    """Pass the items of the chosen rows on to the next chosen row (user and time stay): the same
    items with the same counts, in other users' rows."""
    rows = [line.split("\t") for line in lines[1:]]
    items = [rows[i][1] for i in chosen]
    for index, item in zip(chosen, items[1:] + items[:1]):
        rows[index] = [rows[index][0], item, *rows[index][2:]]
    return [lines[0]] + ["\t".join(row) for row in rows]


def test_valid_and_test_interactions_never_reach_the_collaborative_sids(workdir, sid_cache):
    lines = ml100k_inter().read_text().splitlines()
    held_out, training = held_out_rows(workdir, sid_cache, lines)
    assert len(held_out) > 500  # two per remaining user
    base = sid_by_raw_item(workdir, "base", sid_cache)
    other_future = sid_by_raw_item(workdir, "future", sid_cache, lambda ls: rotate_items(ls, held_out))
    other_past = sid_by_raw_item(workdir, "past", sid_cache, lambda ls: rotate_items(ls, training))
    assert set(base) == set(other_future) == set(other_past)
    assert base == other_future  # held-out rows changed: every SID the same
    changed = sum(base[item] != other_past[item] for item in base)
    assert changed > 0.1 * len(base)  # a training change does move them: the test can fail


def test_cache_keys_differ_between_sources_and_splits(tmp_path):
    tokenizer = SIDTokenizer(levels=2, codebook_size=8, cache_dir=str(tmp_path), show_progress=False)
    vectors = np.random.default_rng(0).normal(size=(12, 3)).astype(np.float32)
    calls = []

    def make():
        calls.append(1)
        return vectors, "test"

    files = set()
    for source, split in [("collaborative", "a"), ("both", "a"), ("collaborative", "b"), ("collaborative", "a")]:
        _, report = tokenizer.fit_transform_vectors(12, make, source, split)
        files.add(report["cache_file"])
    assert len(files) == 3 and len(calls) == 3  # the repeat is a cache hit
