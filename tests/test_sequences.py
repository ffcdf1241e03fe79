import numpy as np
import pytest
import torch

from recbole_maskgr import quick_start
from recbole_maskgr.config import make_config
from recbole_maskgr.data.sequences import rank_from_end


def test_rank_from_end_by_hand():
    users = np.array([3, 3, 3, 5, 7, 7])
    assert rank_from_end(users).tolist() == [2, 1, 0, 0, 1, 0]


@pytest.mark.parametrize("mode", ["sequence", "windows"])
def test_train_samples_cover_what_they_promise(tiny, mode):
    config = make_config("SASRec", "ml-100k", config_dict=tiny)
    dataset = quick_start.create_dataset(config)
    train = dataset.build()[0]
    from recbole_maskgr.data.sequences import shape_train_dataset

    config["train_samples"] = mode
    shaped = shape_train_dataset(config, train).inter_feat
    users, targets = shaped[train.uid_field].numpy(), shaped[train.iid_field].numpy()
    full = train.inter_feat
    all_users = full[train.uid_field].numpy()
    stride = config["MAX_ITEM_LIST_LENGTH"] + 1
    for user in np.unique(all_users)[:50]:
        user_targets = full[train.iid_field].numpy()[all_users == user]  # prefixes in time order
        kept = targets[users == user]
        if mode == "sequence":
            assert kept.tolist() == [user_targets[-1]]
        else:
            assert kept.tolist() == user_targets[::-1][::stride][::-1].tolist()
    if mode == "windows":  # windows tile the sequence: every training item is in exactly one sample
        lengths = shaped[config["ITEM_LIST_LENGTH_FIELD"]].numpy()
        firsts = np.r_[True, users[1:] != users[:-1]]
        covered = (lengths + 1)[~firsts].tolist()
        assert all(c == stride for c in covered)
    assert torch.equal(torch.as_tensor(np.unique(users)), torch.as_tensor(np.unique(all_users)))
