"""RecBole dataset hook that attaches semantic IDs (SIDs) to RecBole's internal item ids.

Where it hooks in: RecBole's ``_data_processing`` filters, remaps ids, then calls
``_user_item_feat_preparation`` (which re-orders ``item_feat`` so that row i = internal item id i),
and only afterwards fills NaNs (float fields get the column mean), normalises and discretises. Item
text must be read from the raw values, so the texts are collected right after
``_user_item_feat_preparation``; the (slow) tokenizer runs once ``_data_processing`` is finished.
``Dataset.copy`` (used by ``build()`` for the train/valid/test splits) is a shallow copy, so every
split shares ``item_sid``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..compat import apply_numpy_aliases

apply_numpy_aliases()  # before RecBole is imported: it still reads numpy-1 aliases

from recbole.data.dataset import SequentialDataset  # noqa: E402
from recbole.utils.enum_type import FeatureType  # noqa: E402

from ..sid.collaborative import collaborative_embeddings, interactions_digest  # noqa: E402
from ..sid.text import apply_fallback, build_item_texts, template_fields  # noqa: E402
from ..sid.tokenizer import SIDTokenizer  # noqa: E402
from ..distributed import local_rank_zero_first  # noqa: E402
from .checks import check_joint_index  # noqa: E402
from .data_left import check_histories_left, check_identical_texts  # noqa: E402
from ..settings import setting_value  # noqa: E402
from .sid_settings import sid_cache_dir, sid_text_fields  # noqa: E402


def _format_float(value: float) -> str:
    """Plain decimal without trailing zeros: 12.5 -> '12.5', 5.0 -> '5'."""
    return np.format_float_positional(float(value), trim="-")


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


class SIDSequentialDataset(SequentialDataset):
    """A :class:`recbole.data.dataset.SequentialDataset` with a semantic ID per item.

    Attributes (set after loading):
        item_sid (torch.LongTensor): ``[item_num, H]`` code table, row = RecBole internal item id,
            row 0 (padding) all zeros and no real item has the all-zero SID; H = ``sid_levels + 1``.
        sid_codebook_size (int): K; level l's codes and the de-dup digit lie in ``[0, K)``.
        sid_report (dict): health figures, seconds per stage, cache status, fallback count.
        sid_item_texts (list[str]): the text encoded for each internal id (index 0 = ``"[PAD]"``).
    """

    def _user_item_feat_preparation(self):
        super()._user_item_feat_preparation()
        # item_feat rows are now aligned with internal item ids and NaNs are not yet filled:
        # the right moment to read raw values. Validation errors come here, before any encoding.
        self._sid_source = self._resolve_sid_source()
        self.sid_item_texts, self._sid_n_fallback = None, 0
        if self._sid_source in ("text", "both") or self.config["dense_retrieval"]:
            self.sid_item_texts, self._sid_n_fallback = self._collect_item_texts()

    def _data_processing(self):
        super()._data_processing()
        check_histories_left(self.config, self.inter_feat[self.uid_field])  # before the slow SID build
        if self._sid_source == "text":
            self._build_item_sid()

    def build(self):
        """RecBole's splits; collaborative SIDs are made here, from the training split alone."""
        datasets = super().build()
        if not hasattr(self, "item_sid"):
            self._build_item_sid(train=datasets[0])
        check_joint_index(self.config, self.item_num - 1)  # before training: decoding would fail only after it
        for split in datasets:  # shallow copies made before the SIDs existed
            split.item_sid, split.sid_codebook_size, split.sid_report = self.item_sid, self.sid_codebook_size, self.sid_report
        return datasets

    def _resolve_sid_source(self) -> str:
        """`sid_source`, with `auto` = text when a configured text field is loaded, else collaborative."""
        source = setting_value(self.config, "sid_source")
        if source != "auto":
            return source
        fields = sid_text_fields(self.config)
        loaded = [] if self.item_feat is None else [f for f in fields if f in self.item_feat.columns]
        chosen = "text" if loaded else "collaborative"
        if loaded:
            why = f"item text fields {loaded} are loaded"
        elif self.item_feat is None:
            why = "no item text is loaded"
        else:
            present = [f for f in self.item_feat.columns if f != self.iid_field]
            why = f"none of sid_text_fields {fields} is among the loaded item fields {present}"
        self.logger.info(f"SID source: {chosen} (sid_source: auto; {why})")
        return chosen

    # ------------------------------------------------------------------ texts
    def _collect_item_texts(self) -> tuple[list[str], int]:
        """Texts for internal ids 1..item_num-1 (index 0 is padding), and the fallback count."""
        fields = sid_text_fields(self.config)
        if self.item_feat is None:
            raise ValueError(
                f"SIDs need item text, but no .item features were loaded for dataset "
                f"'{self.dataset_name}' (configured sid_text_fields: {fields}). Put a "
                f"'{self.dataset_name}.item' file next to the .inter file and make sure `load_col` "
                f"includes it, e.g. load_col: {{inter: [...], item: [{self.iid_field}, {', '.join(fields)}]}}."
            )
        present = [f for f in self.item_feat.columns if f != self.iid_field]
        template = setting_value(self.config, "sid_text_template")
        if template is not None:  # a template may name loaded fields beyond sid_text_fields
            fields = fields + [f for f in template_fields(template) if f not in fields]
        used = [f for f in fields if f in present]
        if not used:
            raise ValueError(
                f"None of the configured sid_text_fields {fields} is loaded from "
                f"'{self.dataset_name}.item'; loaded item fields: {present}. Set `sid_text_fields` "
                f"to some of these, or add the fields to `load_col` (item: [...])."
            )
        missing = [f for f in fields if f not in present]
        if missing:
            self.logger.info(f"SID text: fields {missing} are not loaded and are skipped; using {used}")

        columns = {f: self._field_strings(f) for f in used}
        texts = build_item_texts(columns, used, template)  # [item_num]
        raw_ids = list(self.field2id_token[self.iid_field])  # [item_num]
        texts, n_fallback = apply_fallback(texts[1:], raw_ids[1:])  # row 0 is padding
        if n_fallback:
            self.logger.warning(
                f"SID text: {n_fallback} of {len(texts)} items have no value in {used}; "
                f"they are encoded as 'item <raw id>'"
            )
        return ["[PAD]"] + texts, n_fallback

    def _field_strings(self, field: str) -> list[str | None]:
        """Raw readable values of an item field, one per internal item id (None = missing)."""
        ftype = self.field2type[field]
        values = self.item_feat[field].values
        seq_sep = self.config["seq_separator"] or " "
        joiner = seq_sep if seq_sep.strip() == "" else seq_sep.strip() + " "
        out: list[str | None] = []
        if ftype in (FeatureType.TOKEN, FeatureType.TOKEN_SEQ):
            id2token = self.field2id_token[field]
            for v in values:
                if ftype == FeatureType.TOKEN:
                    if _is_missing(v) or int(v) == 0:  # 0 = [PAD], RecBole's id for an empty cell
                        out.append(None)
                    else:
                        out.append(str(id2token[int(v)]))
                else:
                    if _is_missing(v) or len(v) == 0:
                        out.append(None)
                    else:
                        out.append(joiner.join(str(id2token[int(i)]) for i in v if int(i) != 0))
        elif ftype == FeatureType.FLOAT:
            out = [None if _is_missing(v) else _format_float(v) for v in values]
        else:  # FLOAT_SEQ
            for v in values:
                if _is_missing(v) or len(v) == 0:
                    out.append(None)
                else:
                    out.append(joiner.join(_format_float(x) for x in v if not math.isnan(x)))
        return out

    # ------------------------------------------------------------------ codes
    @local_rank_zero_first  # under DDP the other processes then read the table from the SID cache
    def _build_item_sid(self, train=None):
        """The SID table from item text, or (with `train`, the training split) from interactions."""
        config = self.config
        seed = setting_value(config, "sid_seed")
        if seed is None:
            seed = config["seed"] if config["seed"] is not None else 2020
        cache_dir = sid_cache_dir(config)
        device = config["device"] if config["device"] is not None else "cpu"
        tokenizer = SIDTokenizer(
            text_encoder=setting_value(config, "sid_text_encoder"),
            levels=setting_value(config, "sid_levels"),
            codebook_size=setting_value(config, "sid_codebook_size"),
            method=setting_value(config, "sid_method"),
            n_iter=setting_value(config, "sid_kmeans_iters"),
            seed=seed,
            cache_dir=cache_dir,
            device=str(device),
            batch_size=setting_value(config, "sid_encode_batch_size"),
            show_progress=bool(config["show_progress"]),
            reserve_zero=True,
        )
        if self._sid_source == "text":
            raw_ids = list(self.field2id_token[self.iid_field][1:])
            check_identical_texts(self.sid_item_texts[1:], raw_ids, tokenizer.codebook_size)  # before embedding
            codes, report = tokenizer.fit_transform(self.sid_item_texts[1:])  # [item_num - 1, H]
        else:
            codes, report = self._interaction_codes(tokenizer, train, seed)  # [item_num - 1, H]
        padding = torch.zeros((1, tokenizer.sid_length), dtype=torch.long)  # [1, H]
        self.item_sid = torch.cat([padding, codes], dim=0)  # [item_num, H]
        self.sid_codebook_size = tokenizer.codebook_size
        report["n_text_fallback"] = self._sid_n_fallback
        self.sid_report = report
        del self._sid_n_fallback
        self._log_sid_report(report)
        if config["dense_retrieval"]:  # MaskGR's dense-retrieval extension reads the item text vectors
            self.item_text_vectors = self._text_vectors(tokenizer)  # [item_num, D], row 0 = 0

    def _text_vectors(self, tokenizer) -> torch.Tensor:
        """The tokenizer's (cached) text embeddings of the items, padding row first."""
        if self.sid_item_texts is None:
            raise ValueError(
                f"dense_retrieval needs item text, but no sid_text_fields are loaded for '{self.dataset_name}'. "
                "Load an .item file with a text field (see sid_text_fields), or set dense_retrieval: False."
            )
        vectors, _ = tokenizer.embed(self.sid_item_texts[1:])  # [item_num - 1, D]
        vectors = torch.as_tensor(vectors, dtype=torch.float32)
        return torch.cat([vectors.new_zeros(1, vectors.shape[1]), vectors])

    def _training_pairs(self, train) -> tuple[np.ndarray, np.ndarray]:
        """(user, item) of every training interaction: each row's target and its history items."""
        feat = train.inter_feat
        users, items = feat[self.uid_field].numpy(), feat[self.iid_field].numpy()  # [N] each
        if self.item_id_list_field in feat.columns:  # augmented prefix rows: the history holds the rest
            history = feat[self.item_id_list_field].numpy()  # [N, L]
            rows, cols = np.nonzero(history)
            users = np.concatenate([users, users[rows]])
            items = np.concatenate([items, history[rows, cols]])
        return users, items

    def _interaction_codes(self, tokenizer, train, seed: int):
        """Codes from collaborative vectors (or text and collaborative vectors side by side).

        Items are processed in the order of their raw ids, not RecBole's internal ids (which follow
        first appearance in the whole file, held-out rows included), so the SIDs depend on the
        training interactions alone.
        """
        users, items = self._training_pairs(train)
        n = self.item_num - 1
        by_raw_id = np.argsort(np.asarray(self.field2id_token[self.iid_field][1:], dtype=str), kind="stable")  # [n]
        position = np.empty(n, dtype=np.int64)  # internal id - 1 -> place in raw-id order
        position[by_raw_id] = np.arange(n)
        ordered_items = position[items - 1]  # [P]
        dim = int(setting_value(self.config, "sid_collaborative_dim"))
        source_key = f"{interactions_digest(users, ordered_items)}/dim={dim}"
        texts = None if self.sid_item_texts is None else [self.sid_item_texts[1:][i] for i in by_raw_id]

        def vectors():
            collaborative = collaborative_embeddings(users, ordered_items, n, dim, seed)  # [n, k], raw-id order
            if self._sid_source == "collaborative":
                return collaborative, "collaborative (training split)"
            text, origin = tokenizer.embed(texts)  # [n, d]
            text = text / np.maximum(np.linalg.norm(text, axis=1, keepdims=True), 1e-12)
            return np.concatenate([text, collaborative], axis=1), f"text ({origin}) + collaborative"

        if self._sid_source == "both":
            source_key += "/" + tokenizer.embedding_key(texts)
        codes, report = tokenizer.fit_transform_vectors(n, vectors, self._sid_source, source_key)  # raw-id order
        return codes[torch.from_numpy(position)], report  # [n, H], row = internal id - 1

    def _log_sid_report(self, r: dict):
        seconds = ", ".join(f"{k} {v:.2f}s" for k, v in r["seconds"].items())
        cache = r["cache"]
        self.logger.info(
            f"SID table ({r['source']}): {r['n_items']} items, H={r['H']} ({r['levels']} levels x {r['codebook_size']} "
            f"codes + dedup digit, {r['method']}); collisions {100 * r['collision_rate']:.1f}% of items "
            f"({r['n_collision_groups']} groups, largest {r['largest_group']}); max dedup digit "
            f"{r['max_dedup_digit']}; codes used per level {r['codes_used_per_level']}; "
            f"items with fallback text {r['n_text_fallback']}; cache: codes {cache['codes']}, "
            f"embeddings {cache['embeddings']} ({r.get('cache_file', 'no cache file')}); {seconds}"
        )
