"""Shaping RecBole's sequential training samples for generative models."""

from __future__ import annotations

import numpy as np


def keep_longest_prefix_per_user(train_dataset):
    """One sample per user: the whole training sequence (the paper's setting).

    RecBole's SequentialDataset augments every prefix into its own sample; the longest one per
    user is (history, last training item), i.e. the user's whole training sequence.
    """
    inter = train_dataset.inter_feat
    users = inter[train_dataset.uid_field].numpy()
    lengths = inter[train_dataset.config["ITEM_LIST_LENGTH_FIELD"]].numpy()
    order = np.lexsort((lengths, users))  # by user, then length: the last row of a user is its longest
    last_of_user = np.r_[users[order][1:] != users[order][:-1], True]
    keep = np.sort(order[last_of_user])
    return train_dataset.copy(inter[keep])


TRAIN_SAMPLES = {"sequence": keep_longest_prefix_per_user, "prefixes": lambda dataset: dataset}


def shape_train_dataset(config, train_dataset):
    """Apply `train_samples` (sequence | prefixes) to the training split."""
    choice = config["train_samples"] or "prefixes"
    if choice not in TRAIN_SAMPLES:
        raise ValueError(f"train_samples must be one of {sorted(TRAIN_SAMPLES)}, got '{choice}'")
    return TRAIN_SAMPLES[choice](train_dataset)
