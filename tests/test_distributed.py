"""DDP (issue 15): two gloo processes on the CPU train and evaluate like one, and only rank 0 writes.

Each test spawns two real processes (torch.multiprocessing, gloo backend) on RecBole's bundled
ml-100k cut to light users; a few seconds of training each.
"""

import json
import os
import sys

import pytest
import torch
from conftest import TINY
from torch.utils.data.distributed import DistributedSampler

from recbole_maskgr import distributed, launch
from recbole_maskgr.trainer.checkpoint import safe_load
from recbole_maskgr.trainer.distributed import EvenShardSampler, unpad_eval_loader

# Same global batch and seed in both runs; no dropout and no shuffling, so the two processes' half
# batches together are exactly the one process's batch (DistributedSampler deals indices r, r+2, ...).
DETERMINISTIC = dict(TINY, epochs=2, shuffle=False, hidden_dropout_prob=0.0, attn_dropout_prob=0.0)
# Gradients are averaged in another order (and the odd last batch is padded with one repeated
# sequence), so weights differ by float rounding; metrics may move by a user or two at most.
WEIGHT_TOLERANCE = 5e-3  # measured: 7.6e-4 after 2 epochs (Adam magnifies rounding in tiny gradients)
METRIC_TOLERANCE = 0.005  # measured: test metrics equal, validation NDCG/MRR within 0.0006 (305 users)


def audited(settings: dict, workdir: str, record_dir: str, model: str, config_dict: dict):
    """Launch target: run one model while recording every file this process creates or writes under
    `workdir`; the record goes to `record_dir/rank<r>.json` (outside `workdir`) at the end."""
    writes, recording = [], [True]
    root = os.path.realpath(workdir)

    def hook(event, args):
        if not recording[0] or event not in ("open", "os.rename", "os.replace", "os.mkdir"):
            return
        path = args[0] if event != "os.rename" else args[1]
        if not isinstance(path, (str, bytes, os.PathLike)):
            return
        path = os.path.realpath(os.fsdecode(path))
        mode, flags = (args[1], args[2]) if event == "open" else ("w", 0)
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            mode is None and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
        if writing and path.startswith(root):
            writes.append(os.path.relpath(path, root))

    sys.addaudithook(hook)
    result = launch.run_model(settings, model, "ml-100k", None, config_dict, None)
    recording[0] = False
    with open(os.path.join(record_dir, f"rank{settings['local_rank']}.json"), "w") as handle:
        json.dump(sorted(set(writes)), handle)
    return result


def run_two_processes(tmp_path, model, settings):
    record_dir = tmp_path / "records"
    record_dir.mkdir()
    result = distributed.launch(audited, 2, args=(str(tmp_path / "work"), str(record_dir), model, settings),
                                port=distributed.free_port())
    writes = [json.loads((record_dir / f"rank{r}.json").read_text()) for r in (0, 1)]
    return result, writes


@pytest.fixture
def ddp_dirs(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # log/, log_tensorboard/ and saved/ land here in every process
    return tmp_path


def test_two_processes_match_one_with_the_same_global_batch_and_seed(ddp_dirs):
    from recbole_maskgr import quick_start

    one = quick_start.run("SASRec", "ml-100k", config_dict=dict(DETERMINISTIC, checkpoint_dir="saved-one"))
    two, (rank0, rank1) = run_two_processes(ddp_dirs, "SASRec", dict(DETERMINISTIC, checkpoint_dir="saved-two"))

    for split in ("best_valid_result", "test_result"):
        for metric, value in one[split].items():
            assert abs(two[split][metric] - value) <= METRIC_TOLERANCE, (split, metric, value, two[split][metric])
    weights_one = safe_load(one["saved_model_file"])["state_dict"]
    weights_two = safe_load(os.path.join(ddp_dirs, "work", two["saved_model_file"]))["state_dict"]
    for name, tensor in weights_one.items():
        assert torch.allclose(tensor, weights_two[name], atol=WEIGHT_TOLERANCE), name
    assert two["test_users"] == one["test_users"]  # the test loader's users, not a padded share

    assert rank1 == [], f"rank 1 wrote {rank1}"
    assert any(p.startswith("saved-two") and p.endswith(".pth") for p in rank0)  # rank 0 did write
    assert any(p.startswith("log") for p in rank0)


def test_maskgr_sid_table_is_built_by_rank_zero_and_read_by_the_other(ddp_dirs):
    settings = dict(TINY, sid_source="collaborative", sid_levels=2, sid_codebook_size=16, hidden_size=32,
                    n_heads=2, inner_size=64, beam_width=10, warmup_steps=5, sid_cache_dir="sid-cache",
                    checkpoint_dir="saved", train_budget_s=600)
    result, (rank0, rank1) = run_two_processes(ddp_dirs, "MaskGR", settings)

    assert rank1 == [], f"rank 1 wrote {rank1}"
    assert any(p.startswith("sid-cache") for p in rank0)  # built once, by rank 0
    metrics = result["test_result"]
    assert set(metrics) >= {"recall@10", "ndcg@10"} and all(0.0 <= v <= 1.0 for v in metrics.values())
    assert result["decode_stats"]["users"] > 0  # rank 0 decoded its share with beam search


def test_evaluation_shards_cover_every_user_once():
    """RecBole's DistributedSampler pads a rank's share with repeated users; ours does not."""
    loader = torch.utils.data.DataLoader(list(range(7)), batch_size=2,
                                         sampler=DistributedSampler(list(range(7)), num_replicas=2, rank=0))
    assert len(list(loader.sampler)) == 4
    unpad_eval_loader(loader)
    shards = [list(EvenShardSampler(list(range(7)), num_replicas=2, rank=r)) for r in (0, 1)]
    assert shards == [[0, 2, 4, 6], [1, 3, 5]]
    assert [int(i) for batch in loader for i in batch] == [0, 2, 4, 6]
    assert len(loader) == 2
