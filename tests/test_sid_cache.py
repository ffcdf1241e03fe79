"""SID cache: hits, keys, corrupt files, atomic writes; tokenizer argument checks and report."""

import logging
import os

import numpy as np
import pytest
import torch

from recbole_maskgr.sid import cache as cache_mod
from recbole_maskgr.sid import tokenizer as tok_mod
from recbole_maskgr.sid.cache import SIDCache
from recbole_maskgr.sid.tokenizer import SIDTokenizer

TEXTS = [f"title: item number {i}" for i in range(60)]


@pytest.fixture
def counted(monkeypatch):
    """Replace the encoder by a deterministic fake and count encoder and quantiser calls."""
    calls = {"encode": 0, "quantize": 0}

    def fake_encode(texts, encoder, device="cpu", batch_size=256, show_progress=True):
        calls["encode"] += 1
        rng = np.random.default_rng(len(texts))
        return rng.standard_normal((len(texts), 16)).astype(np.float32)  # [n, 16]

    real_quantize = tok_mod.quantize

    def counting_quantize(*args, **kwargs):
        calls["quantize"] += 1
        return real_quantize(*args, **kwargs)

    monkeypatch.setattr(tok_mod, "encode_texts", fake_encode)
    monkeypatch.setattr(tok_mod, "quantize", counting_quantize)
    return calls


def _tok(cache_dir, **kw):
    args = dict(levels=2, codebook_size=8, n_iter=5, seed=3, cache_dir=str(cache_dir), show_progress=False)
    args.update(kw)
    return SIDTokenizer(**args)


def test_rerun_hits_the_cache(tmp_path, counted):
    codes1, rep1 = _tok(tmp_path).fit_transform(TEXTS)
    assert rep1["cache"] == {"codes": "miss", "embeddings": "miss"}
    assert counted == {"encode": 1, "quantize": 1}
    codes2, rep2 = _tok(tmp_path).fit_transform(TEXTS)
    assert rep2["cache"]["codes"] == "hit"
    assert counted == {"encode": 1, "quantize": 1}  # neither encoder nor quantiser ran again
    assert torch.equal(codes1, codes2) and codes1.dtype == torch.long
    assert rep2["collision_rate"] == rep1["collision_rate"]
    # new levels: codes are rebuilt, but the cached embeddings are reused
    _, rep3 = _tok(tmp_path, levels=3).fit_transform(TEXTS)
    assert rep3["cache"] == {"codes": "miss", "embeddings": "hit"}
    assert counted == {"encode": 1, "quantize": 2}


def test_reordered_catalogue_reuses_the_cached_embeddings(tmp_path, counted):
    """Another numbering of the same items (a filtered copy of a dataset) embeds nothing again, and each
    row still belongs to its text; a repeated text is encoded once."""
    first, origin = _tok(tmp_path).embed(TEXTS)
    assert origin == "miss" and counted["encode"] == 1 and first.shape == (60, 16)
    order = np.random.default_rng(5).permutation(60)
    shuffled = [TEXTS[i] for i in order] + [TEXTS[7]]
    again, origin = _tok(tmp_path).embed(shuffled)
    assert origin == "hit" and counted["encode"] == 1
    np.testing.assert_array_equal(again[:60], first[order])
    np.testing.assert_array_equal(again[60], first[7])


def test_report_has_health_and_seconds_per_stage(tmp_path, counted):
    codes, rep = _tok(tmp_path).fit_transform(TEXTS)
    assert codes.shape == (60, 3)
    assert {"encode", "quantize", "dedup"} <= set(rep["seconds"])
    assert all(v >= 0 for v in rep["seconds"].values())
    for key in ("n_items", "H", "collision_rate", "largest_group", "max_dedup_digit", "codes_used_per_level"):
        assert key in rep
    assert rep["H"] == 3 and rep["n_items"] == 60


def test_no_cache_dir_means_no_files(tmp_path, counted):
    _, rep = SIDTokenizer(levels=2, codebook_size=8, n_iter=5, cache_dir=None).fit_transform(TEXTS)
    assert rep["cache"]["codes"] == "off"


def test_every_key_part_changes_the_key():
    base = dict(levels=2, codebook_size=8, method="residual_kmeans", n_iter=5, seed=3)
    key = SIDTokenizer(**base)._codes_key(TEXTS)
    variants = [
        SIDTokenizer(**base)._codes_key(TEXTS[:-1] + ["title: item number 590"]),  # one text differs
        SIDTokenizer(**base)._codes_key(TEXTS[1:] + TEXTS[:1]),  # order differs
        SIDTokenizer(**base, text_encoder="paraphrase-MiniLM-L3-v2")._codes_key(TEXTS),
        SIDTokenizer(**{**base, "levels": 3})._codes_key(TEXTS),
        SIDTokenizer(**{**base, "codebook_size": 16})._codes_key(TEXTS),
        SIDTokenizer(**{**base, "method": "kmeans"})._codes_key(TEXTS),
        SIDTokenizer(**{**base, "n_iter": 6})._codes_key(TEXTS),
        SIDTokenizer(**{**base, "seed": 4})._codes_key(TEXTS),
    ]
    assert len(set(variants + [key])) == len(variants) + 1
    # joining texts differently must not collide either
    assert cache_mod.make_key("k", ["ab", "c"]) != cache_mod.make_key("k", ["a", "bc"])
    # both spellings of the default encoder share the key (same model)
    alias = SIDTokenizer(**base, text_encoder="sentence-transformers/all-MiniLM-L6-v2")._codes_key(TEXTS)
    assert alias == key


def _sid_file(cache_dir):
    files = [f for f in os.listdir(cache_dir) if f.startswith("sid-")]
    assert len(files) == 1
    return os.path.join(cache_dir, files[0])


@pytest.mark.parametrize("damage", ["truncate", "garbage", "tamper"])
def test_corrupt_cache_file_is_detected_and_rebuilt(tmp_path, counted, caplog, damage):
    codes, _ = _tok(tmp_path).fit_transform(TEXTS)
    path = _sid_file(tmp_path)
    if damage == "truncate":
        data = open(path, "rb").read()
        open(path, "wb").write(data[: len(data) // 2])
    elif damage == "garbage":
        open(path, "wb").write(b"not a torch file at all")
    else:  # a well-formed file whose content no longer matches its checksum
        blob = torch.load(path, weights_only=True)
        blob["tensors"]["codes"][0, 0] += 1
        torch.save(blob, path)
    with caplog.at_level(logging.WARNING):
        codes2, rep = _tok(tmp_path).fit_transform(TEXTS)
    assert rep["cache"]["codes"] == "miss"  # never used
    assert counted["quantize"] == 2  # rebuilt
    assert torch.equal(codes, codes2)
    assert any(path in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    # the rebuilt file is valid again
    assert SIDCache(str(tmp_path)).load("sid", os.path.basename(path)[4:-3]) is not None


def test_write_is_atomic(tmp_path, monkeypatch):
    cache = SIDCache(str(tmp_path / "c"))

    def failing_save(obj, f):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(cache_mod.torch, "save", failing_save)
    # the cache only saves time: a refused write is a warning (tests/test_reliability_data.py), not an error
    assert cache.save("sid", "abc", {"codes": torch.zeros(3, 2, dtype=torch.long)}) is None
    assert os.listdir(tmp_path / "c") == []  # neither the entry nor a temp file remains
    assert cache.load("sid", "abc") is None


def test_cache_round_trip_with_weights_only(tmp_path):
    cache = SIDCache(str(tmp_path))
    t = torch.arange(6).reshape(3, 2)
    cache.save("sid", "k1", {"codes": t})
    assert torch.equal(cache.load("sid", "k1")["codes"], t)
    # a file stored under another key is not accepted
    os.replace(cache.path("sid", "k1"), cache.path("sid", "k2"))
    assert cache.load("sid", "k2") is None and not os.path.exists(cache.path("sid", "k2"))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"levels": 0}, "sid_levels"),
        ({"codebook_size": 1}, "sid_codebook_size"),
        ({"method": "vq"}, "sid_method"),
        ({"n_iter": 0}, "sid_kmeans_iters"),
        ({"seed": "x"}, "sid_seed"),
    ],
)
def test_tokenizer_validates_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SIDTokenizer(**kwargs)


def test_tokenizer_rejects_empty_text_list(counted):
    with pytest.raises(ValueError, match="empty"):
        SIDTokenizer(levels=2, codebook_size=8).fit_transform([])
    assert counted["encode"] == 0
