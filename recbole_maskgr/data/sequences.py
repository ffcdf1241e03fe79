"""Shaping RecBole's sequential training samples for generative models.

RecBole's SequentialDataset turns every prefix of a user's training sequence into its own sample
(history of up to MAX_ITEM_LIST_LENGTH items -> next item). MaskGR trains on whole sequences, so
one sample per prefix repeats each item up to MAX_ITEM_LIST_LENGTH times per epoch. These
choices keep a subset of those samples (`train_samples`):

- prefixes: all of them (RecBole's default);
- sequence: the longest per user, i.e. the user's most recent MAX_ITEM_LIST_LENGTH + 1 training
  items (the paper's setting: no augmentation);
- windows: the longest, and every (MAX_ITEM_LIST_LENGTH + 1)-th before it, so non-overlapping
  windows tile each user's whole training sequence: every item once per epoch.
"""

from __future__ import annotations

import numpy as np

from recbole_maskgr.settings import SETTINGS


def rank_from_end(users: np.ndarray) -> np.ndarray:
    """For rows grouped by user in time order: 0 for a user's last row, 1 for the one before, ..."""
    starts = np.r_[True, users[1:] != users[:-1]]  # first row of each user's run
    run_id = np.cumsum(starts) - 1
    run_end = np.r_[np.flatnonzero(starts)[1:], len(users)] - 1  # last row index of each run
    return run_end[run_id] - np.arange(len(users))


def keep_samples(train_dataset, stride: int | None):
    """Keep each user's last sample and, with a stride, every stride-th sample before it."""
    users = train_dataset.inter_feat[train_dataset.uid_field].numpy()
    runs = int(np.sum(users[1:] != users[:-1])) + 1 if len(users) else 0
    if runs != len(np.unique(users)):  # RecBole's augmentation sorts by user, then time
        raise ValueError("training samples are not grouped by user; cannot pick whole sequences")
    back = rank_from_end(users)
    keep = back == 0 if stride is None else back % stride == 0
    return train_dataset.copy(train_dataset.inter_feat[np.flatnonzero(keep)])


def shape_train_dataset(config, train_dataset):
    """Apply `train_samples` (prefixes | sequence | windows) to the training split."""
    choice = config["train_samples"]
    if choice == "prefixes":
        return train_dataset
    if choice == "sequence":
        return keep_samples(train_dataset, None)
    if choice == "windows":
        return keep_samples(train_dataset, int(config["MAX_ITEM_LIST_LENGTH"]) + 1)
    raise ValueError(f"train_samples {SETTINGS['train_samples'].problem(choice)}")
