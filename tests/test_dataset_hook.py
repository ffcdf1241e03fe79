"""SIDSequentialDataset on RecBole's bundled ml-100k: table shape/alignment, splits, cache, errors."""

import logging
import sys

import pytest
import torch

from recbole_maskgr.compat import apply_numpy_aliases

apply_numpy_aliases()

from recbole.config import Config  # noqa: E402

from recbole_maskgr.data import dataset as ds_mod  # noqa: E402
from recbole_maskgr.data.dataset import SIDSequentialDataset  # noqa: E402
from recbole_maskgr.sid import tokenizer as tok_mod  # noqa: E402

ITEM_COLS = ["item_id", "movie_title", "release_year", "class"]
LEVELS, K = 2, 64  # 2 x 16 is too small for ml-100k: ~30 movies would share one SID (> K - 1)


def make_config(cache_dir, checkpoint_dir, **overrides):
    settings = {
        "load_col": {"inter": ["user_id", "item_id", "timestamp"], "item": ITEM_COLS},
        "sid_text_fields": ["movie_title", "release_year", "class"],
        "sid_levels": LEVELS,
        "sid_codebook_size": K,
        "sid_kmeans_iters": 10,
        "sid_cache_dir": str(cache_dir),
        "checkpoint_dir": str(checkpoint_dir),
        "train_neg_sample_args": None,  # SASRec's CE loss
        "show_progress": False,
    }
    settings.update(overrides)
    return Config(model="SASRec", dataset="ml-100k", config_dict=settings)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One real ml-100k dataset for the module (encoding 1,682 texts is the slow part)."""
    mp = pytest.MonkeyPatch()
    mp.setattr(sys, "argv", ["x"])  # RecBole's Config parses --key=value from sys.argv
    cache = tmp_path_factory.mktemp("sid_cache")
    config = make_config(cache, tmp_path_factory.mktemp("saved"))
    dataset = SIDSequentialDataset(config)
    yield config, dataset, cache
    mp.undo()


def test_item_sid_table(built):
    _, dataset, _ = built
    sid = dataset.item_sid
    assert isinstance(sid, torch.Tensor) and sid.dtype == torch.long
    assert sid.shape == (dataset.item_num, LEVELS + 1)
    assert torch.all(sid[0] == 0)  # padding row
    assert torch.unique(sid, dim=0).shape[0] == dataset.item_num  # every row unique, padding included
    assert sid.min() >= 0 and sid.max() < K and dataset.sid_codebook_size == K
    rep = dataset.sid_report
    assert rep["n_items"] == dataset.item_num - 1 and rep["H"] == LEVELS + 1
    assert rep["max_dedup_digit"] == int(sid[:, -1].max())


def test_texts_are_aligned_with_internal_ids(built):
    _, dataset, _ = built
    internal = dataset.token2id(dataset.iid_field, "1")  # raw item 1 of ml-100k is Toy Story (1995)
    text = dataset.sid_item_texts[internal]
    assert text == "movie title: Toy Story; release year: 1995; class: Animation Children's Comedy"
    assert len(dataset.sid_item_texts) == dataset.item_num and dataset.sid_item_texts[0] == "[PAD]"


def test_splits_keep_item_sid(built):
    _, dataset, _ = built
    splits = dataset.build()
    assert len(splits) == 3
    for split in splits:
        assert split.item_sid is dataset.item_sid and split.sid_codebook_size == K


def test_second_run_logs_a_cache_hit(built, monkeypatch, caplog, tmp_path):
    config, dataset, cache = built
    monkeypatch.setattr(sys, "argv", ["x"])

    def must_not_encode(*args, **kwargs):
        raise AssertionError("the cached SID table should have been used")

    monkeypatch.setattr(tok_mod, "encode_texts", must_not_encode)
    with caplog.at_level(logging.INFO):
        again = SIDSequentialDataset(config)
    assert torch.equal(again.item_sid, dataset.item_sid)
    assert again.sid_report["cache"]["codes"] == "hit"
    assert any("SID table" in r.getMessage() and "codes hit" in r.getMessage() for r in caplog.records)


@pytest.fixture
def no_encoding(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["x"])

    def fail(*args, **kwargs):
        raise AssertionError("encoding must not start before the configuration is checked")

    monkeypatch.setattr(tok_mod, "encode_texts", fail)
    monkeypatch.setattr(ds_mod.SIDTokenizer, "fit_transform", fail)


def test_missing_text_fields_error_before_encoding(no_encoding, tmp_path):
    config = make_config(tmp_path / "c", tmp_path / "s", sid_text_fields=["title", "brand"], sid_source="text")
    with pytest.raises(ValueError) as err:
        SIDSequentialDataset(config)
    msg = str(err.value)
    assert "['title', 'brand']" in msg  # what was configured
    assert "movie_title" in msg  # what is there
    assert "sid_text_fields" in msg and "load_col" in msg  # how to fix it


def test_no_item_file_loaded_error_before_encoding(no_encoding, tmp_path):
    config = make_config(
        tmp_path / "c", tmp_path / "s", load_col={"inter": ["user_id", "item_id", "timestamp"]}, sid_source="text"
    )
    with pytest.raises(ValueError, match="no .item features were loaded") as err:
        SIDSequentialDataset(config)
    assert "load_col" in str(err.value)


def _write_tiny_dataset(root):
    """7 items: one with all text empty, one missing from .item, one only in .item."""
    folder = root / "tiny"
    folder.mkdir(parents=True)
    inter = ["user_id:token\titem_id:token\ttimestamp:float"]
    for u, items in {"u1": ["i1", "i2", "i3", "i4"], "u2": ["i2", "i3", "i5", "i6"], "u3": ["i1", "i4", "i5"]}.items():
        inter += [f"{u}\t{it}\t{t}" for t, it in enumerate(items)]
    (folder / "tiny.inter").write_text("\n".join(inter) + "\n")
    item = [
        "item_id:token\ttitle:token_seq\tbrand:token\tcategories:token_seq\tprice:float",
        "i1\tRose Lip Balm\tAcme\tLips Balm\t12.5",
        "i2\t\t\t\t",  # nothing -> fallback
        "i3\tSoap\t\t\t5.0",
        "i4\tShampoo\tBeta\tHair\t",
        "i5\tConditioner\tBeta\t\t1234567",
        # i6 has interactions but no .item row -> fallback
        "i7\tNever Bought\tAcme\t\t3",  # only in .item: still gets an id and a SID
    ]
    (folder / "tiny.item").write_text("\n".join(item) + "\n")
    return root


def test_tiny_dataset_texts_floats_and_fallback(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(sys, "argv", ["x"])
    data_path = _write_tiny_dataset(tmp_path / "data")
    config = Config(
        model="SASRec",
        dataset="tiny",
        config_dict={
            "data_path": str(data_path),
            "load_col": None,
            # keep i6's interactions although it has no .item row (RecBole drops them by default)
            "filter_inter_by_user_or_item": False,
            "sid_levels": 2,
            "sid_codebook_size": 8,
            "sid_kmeans_iters": 5,
            "checkpoint_dir": str(tmp_path / "saved"),  # default cache dir: <checkpoint_dir>/sid_cache
            "train_neg_sample_args": None,
            "show_progress": False,
        },
    )
    with caplog.at_level(logging.INFO):
        dataset = SIDSequentialDataset(config)
    raw_ids = dataset.field2id_token["item_id"][1:]
    text = {str(raw): dataset.sid_item_texts[dataset.token2id("item_id", raw)] for raw in raw_ids}
    assert text == {
        "i1": "title: Rose Lip Balm; brand: Acme; categories: Lips Balm; price: 12.5",
        "i2": "item i2",
        "i3": "title: Soap; price: 5",
        "i4": "title: Shampoo; brand: Beta; categories: Hair",
        "i5": "title: Conditioner; brand: Beta; price: 1234567",
        "i6": "item i6",
        "i7": "title: Never Bought; brand: Acme; price: 3",
    }
    assert dataset.sid_report["n_text_fallback"] == 2
    assert any(r.levelno == logging.WARNING and "2 of 7 items" in r.getMessage() for r in caplog.records)
    assert dataset.item_sid.shape == (8, 3) and torch.all(dataset.item_sid[0] == 0)
    assert torch.unique(dataset.item_sid, dim=0).shape[0] == 8
    assert (tmp_path / "saved" / "sid_cache").is_dir()


def test_tiny_dataset_template(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["x"])
    monkeypatch.setattr(SIDSequentialDataset, "_build_item_sid", lambda self: None)  # texts only
    data_path = _write_tiny_dataset(tmp_path / "data")
    settings = {
        "data_path": str(data_path),
        "load_col": None,
        "sid_text_fields": ["title"],
        "sid_text_template": "{title} by {brand}",  # brand is not in sid_text_fields, but loaded
        "checkpoint_dir": str(tmp_path / "saved"),
        "train_neg_sample_args": None,
    }
    dataset = SIDSequentialDataset(Config(model="SASRec", dataset="tiny", config_dict=settings))
    texts = {str(raw): dataset.sid_item_texts[dataset.token2id("item_id", raw)] for raw in ("i1", "i2", "i3")}
    assert texts == {"i1": "Rose Lip Balm by Acme", "i2": "item i2", "i3": "Soap by"}
    settings["sid_text_template"] = "{title} in {colour}"
    with pytest.raises(ValueError, match="colour"):
        SIDSequentialDataset(Config(model="SASRec", dataset="tiny", config_dict=settings))
