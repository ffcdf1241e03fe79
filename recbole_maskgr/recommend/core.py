"""Top-k recommendations from a trained checkpoint, for known users or a history typed by hand.

Any model this project trains (MaskGR, TIGER, SASRec, any RecBole sequential model) is asked the
way RecBole's evaluator asks it: an Interaction with `item_id_list` / `item_length` (the last
MAX_ITEM_LIST_LENGTH items, oldest first, left-aligned) goes to `model.full_sort_predict` in eval
mode; column 0 (padding) never comes back.
"""

from __future__ import annotations

import torch

from recbole_maskgr.recommend.catalog import RecommendError, check_raw_ids, item_titles, parse_ids, shown


def request_ids(users=None, history=None, k: int = 10) -> tuple[list | None, list | None]:
    """Raw ids as text ("1,2,3" or a list; a user named twice gets one list); RecommendError for a
    malformed request."""
    if (users is None) == (history is None):
        raise RecommendError("give either users (raw user ids) or history (raw item ids), not both or neither")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise RecommendError(f"k must be a positive whole number, got {k!r}")
    if users is not None:
        users = list(dict.fromkeys(parse_ids(users, "user ids") if isinstance(users, str) else map(str, users)))
    if history is not None:
        history = parse_ids(history, "item ids") if isinstance(history, str) else [str(i) for i in history]
    if users == [] or history == []:
        raise RecommendError("no users or items given")
    return users, history


def check_request(checkpoint: str, users=None, history=None, k: int = 10,
                  locations: dict | None = None) -> tuple[list | None, list | None]:
    """`request_ids`, and RecommendError for ids the dataset files do not hold at all.

    Runs before the model is loaded, so a typo costs a second, not a model load. `locations`: where
    the data and SID cache are (`data_path`, `sid_cache_dir`); never read from the checkpoint.
    """
    from recbole_maskgr.quick_start import checkpoint_config

    users, history = request_ids(users, history, k)
    check_raw_ids(checkpoint_config(checkpoint, locations), users, history)
    return users, history


class Recommender:
    """A trained model with its dataset, loaded once; answers any number of requests."""

    def __init__(self, checkpoint: str, locations: dict | None = None):
        from recbole_maskgr.quick_start import load_data_and_model

        self.config, self.model, self.dataset, _, _, self.test_data = load_data_and_model(checkpoint, locations)
        self.model.eval()
        self.titles = item_titles(self.config)
        self.max_history = int(self.config["MAX_ITEM_LIST_LENGTH"])
        self.item_ids = self.dataset.field2token_id[self.dataset.iid_field]  # raw -> internal
        self.item_tokens = self.dataset.field2id_token[self.dataset.iid_field]  # internal -> raw

    def title(self, raw_item: str) -> str:
        return self.titles.get(str(raw_item), "")

    def internal_users(self, users: list[str]) -> list[int]:
        """Internal ids; RecommendError for users the dataset's filters dropped."""
        ids = self.dataset.field2token_id[self.dataset.uid_field]
        missing = [u for u in users if u not in ids]
        if missing:
            check_raw_ids(self.config, missing, None)  # not in the files at all: say that instead
            raise RecommendError(
                f"user id(s) {shown(missing)} are in the data but were dropped by the dataset's filters "
                f"(user_inter_num_interval={self.config['user_inter_num_interval']}, "
                f"item_inter_num_interval={self.config['item_inter_num_interval']})"
            )
        return [ids[u] for u in users]

    def internal_items(self, items: list[str]) -> torch.Tensor:
        missing = [i for i in items if i not in self.item_ids]
        if missing:
            check_raw_ids(self.config, None, missing)
            raise RecommendError(
                f"item id(s) {shown(missing)} are in the data but were dropped by the dataset's filters "
                f"(item_inter_num_interval={self.config['item_inter_num_interval']}), so the model does not know them"
            )
        return torch.tensor([self.item_ids[i] for i in items], dtype=torch.long)

    def user_history(self, uid: int) -> torch.Tensor:
        """A user's whole history in the data (train, valid and test items), oldest first: internal ids.

        RecBole's stable sorts keep each user's rows in time order. A sequential dataset holds one row
        per prefix (history -> next item); the first row's history is the first item.
        """
        feat = self.dataset.inter_feat
        rows = (feat[self.dataset.uid_field] == uid).nonzero().squeeze(1)
        if len(rows) == 0:
            raise RecommendError(f"user id {self.dataset.field2id_token[self.dataset.uid_field][uid]} "
                                 "has no interactions left in the dataset")
        items = feat[self.dataset.iid_field][rows]
        list_field = self.dataset.iid_field + self.config["LIST_SUFFIX"]
        if list_field in feat:  # sequential dataset: prefix rows
            items = torch.cat([feat[list_field][rows[0], :1], items])
        return items

    def raw_items(self, internal: torch.Tensor) -> list[str]:
        return [str(self.item_tokens[int(i)]) for i in internal]

    def histories(self, users: list[str]) -> dict[str, list[str]]:
        """Raw user id -> the user's whole history as raw item ids, oldest first."""
        return {u: self.raw_items(self.user_history(uid)) for u, uid in zip(users, self.internal_users(users))}

    def model_input(self, histories: list[torch.Tensor], uids: list[int]):
        """RecBole's Interaction for these histories: the last MAX_ITEM_LIST_LENGTH items, left-aligned."""
        from recbole.data.interaction import Interaction

        seq = torch.zeros(len(histories), self.max_history, dtype=torch.long)
        lengths = torch.zeros(len(histories), dtype=torch.long)
        for row, items in enumerate(histories):
            tail = items[-self.max_history:]
            seq[row, : len(tail)] = tail
            lengths[row] = len(tail)
        list_field = self.dataset.iid_field + self.config["LIST_SUFFIX"]
        data = {self.dataset.uid_field: torch.tensor(uids, dtype=torch.long), list_field: seq,
                self.config["ITEM_LIST_LENGTH_FIELD"]: lengths}
        return Interaction(data).to(self.config["device"])

    def scores(self, histories: list[torch.Tensor], uids: list[int], exclude_history: bool) -> torch.Tensor:
        """[requests, n_items] scores; padding (and, if asked, each request's history items) at -inf."""
        self.model.eval()
        with torch.no_grad():
            scores = self.model.full_sort_predict(self.model_input(histories, uids))
        scores = scores.view(len(histories), -1).float().cpu()
        scores[:, 0] = float("-inf")
        if exclude_history:
            for row, items in enumerate(histories):
                scores[row, items] = float("-inf")
        return scores

    def recommend(self, users=None, history=None, k: int = 10, exclude_history: bool = False) -> list[dict]:
        """Rows {user, rank, item, title, score}: the top-k distinct items per user (or for `history`)."""
        users, history = request_ids(users, history, k)
        if users is not None:
            uids = self.internal_users(users)
            labels, histories = users, [self.user_history(uid) for uid in uids]
        else:
            self.require_sequential()
            labels, uids, histories = ["history"], [0], [self.internal_items(history)]
        scores = self.scores(histories, uids, exclude_history)
        top = scores.topk(min(k, scores.shape[1] - 1), dim=1)
        rows = []
        for label, values, items in zip(labels, top.values, top.indices):
            kept = [(float(v), int(i)) for v, i in zip(values, items) if torch.isfinite(v)]
            for rank, (score, item) in enumerate(kept, start=1):
                raw = self.raw_items([item])[0]
                rows.append({"user": label, "rank": rank, "item": raw, "title": self.title(raw), "score": score})
        return rows

    def require_sequential(self) -> None:
        from recbole.utils import ModelType

        if self.config["MODEL_TYPE"] != ModelType.SEQUENTIAL:
            raise RecommendError(
                f"{self.config['model']} is not a sequential model: it recommends for known users only (--users)"
            )


def recommend(checkpoint: str, users=None, history=None, k: int = 10, exclude_history: bool = False,
              locations: dict | None = None) -> list[dict]:
    """Top-k items from a trained checkpoint, as rows {user, rank, item, title, score}.

    users: raw user ids (each user's whole history in the data is the input); history: raw item ids,
    oldest first (`user` is then "history"). exclude_history drops the history's own items.
    Loads the model on every call; hold a `Recommender(checkpoint)` to ask many times. `locations`:
    e.g. {"data_path": ..., "sid_cache_dir": ...} when they are not the defaults (the checkpoint's own
    record of them is not used).
    """
    users, history = check_request(checkpoint, users, history, k, locations)
    return Recommender(checkpoint, locations).recommend(users, history, k, exclude_history)
