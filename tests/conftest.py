"""Shared fixtures: tiny, real-data RecBole settings that keep the suite CPU-friendly."""

import sys
from pathlib import Path

import pytest
import yaml

# ml-100k (shipped inside RecBole) cut to light users, with tiny models: seconds per run.
TINY = {
    "epochs": 1,
    "show_progress": False,
    "state": "WARNING",
    "user_inter_num_interval": "[5,40]",
    "MAX_ITEM_LIST_LENGTH": 8,
    "train_batch_size": 512,
    "eval_batch_size": 256,
    "hidden_size": 16,
    "inner_size": 32,
    "n_layers": 1,
    "n_heads": 1,
}


@pytest.fixture(autouse=True)
def clean_argv(monkeypatch):
    """RecBole reads --key=value from sys.argv; pytest's own flags must not leak into configs."""
    monkeypatch.setattr(sys, "argv", ["pytest"])


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Run in a temporary folder: RecBole writes log/, log_tensorboard/ and saved/ to the cwd."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def tiny(workdir):
    return dict(TINY, checkpoint_dir=str(workdir / "saved"))


@pytest.fixture(scope="session")
def sid_cache(tmp_path_factory):
    """One SID cache for the session: ml-100k titles are embedded once."""
    return str(tmp_path_factory.mktemp("sid_cache"))


# MaskGR as a purely generative SID model, read from its preset: what the tests of the SID machinery
# (objectives, beams, next-k, caches) build on; the default adds the item-level levers.
REPO = Path(__file__).resolve().parents[1]
SID_ONLY = yaml.safe_load((REPO / "properties" / "presets" / "maskgr-sid-only.yaml").read_text())


@pytest.fixture
def sid_model_settings(tiny, sid_cache):
    """Tiny MaskGR/TIGER settings on the tiny ml-100k cut."""
    return dict(tiny, sid_levels=2, sid_codebook_size=16, sid_cache_dir=sid_cache, hidden_size=32, n_heads=2,
                inner_size=64, n_layers=1, beam_width=10, warmup_steps=5)


def build_model(model, settings, dataset="ml-100k"):
    """(config, dataset, (train, valid, test), model, trainer) without log files."""
    from recbole_maskgr import quick_start
    from recbole_maskgr.config import make_config

    config = make_config(model, dataset, config_dict=settings)
    built, loaders, net, trainer = quick_start.build(config, log=False)
    return config, built, loaders, net, trainer


def first_batch(loader):
    """The interaction of a loader's first batch (eval loaders yield tuples)."""
    batch = next(iter(loader))
    return batch[0] if isinstance(batch, tuple) else batch


def assert_full_sort_contract(config, dataset, model, interaction, spec=None):
    """[users, n_items], no NaN, padding column -inf, every real item finite, top-B distinct items;
    decoded by `spec` (default the test phase's), whose stats count every user. -> (scores, stats)"""
    import torch

    with torch.no_grad():
        scores, stats = model.rank(interaction, spec or model.specs["test"])
    users = interaction[model.ITEM_SEQ].shape[0]
    assert stats["users"] == users and stats["passes"] >= users and stats["seconds"] > 0
    assert scores.shape == (users, dataset.item_num)
    assert not torch.isnan(scores).any() and torch.isneginf(scores[:, 0]).all()
    assert torch.isfinite(scores[:, 1:]).all()  # every real item is ranked
    top = scores.topk(config["beam_width"], dim=1).indices
    assert (top > 0).all() and all(len(set(row.tolist())) == len(row) for row in top)
    return scores, stats


def assert_training_lowers_loss(model, batch, steps: int) -> None:
    """A few AdamW steps on one batch must cut the loss by a fifth, staying finite throughout."""
    import math

    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    torch.manual_seed(0)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = model.calculate_loss(batch)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(math.isfinite(x) for x in losses)
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5


def scores_alone_and_among_batch_mates(model, interaction, score):
    """`score(interaction)` rows of the batch's shortest history, computed with the batch and alone.

    Histories are trimmed to the batch's longest and left-padded: padding must not change a user's
    scores. `interaction` must hold histories of several lengths.
    """
    import torch

    lengths = interaction[model.ITEM_SEQ_LEN]
    shortest = int(lengths.argmin())
    assert lengths[shortest] < lengths.max()  # so the batch really pads this user
    with torch.no_grad():
        together = score(interaction)[shortest]
        alone = score(interaction[torch.tensor([shortest])])[0]
    return together, alone
