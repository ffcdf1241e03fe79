"""Reliability III (data side): non-finite timestamps, forged SID caches, failing writes, checkpoints
that name other folders, and the messages for data that leaves nothing to train on."""

import errno
import hashlib
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from recbole_maskgr import quick_start
from recbole_maskgr.config import ConfigError, make_config
from recbole_maskgr.data.atomic_files import validate_atomic_files
from recbole_maskgr.data.data_left import keeps_everything, nothing_left
from recbole_maskgr.sid import tokenizer as tokenizer_module
from recbole_maskgr.sid.cache import checksum
from recbole_maskgr.sid.tokenizer import SIDTokenizer
from recbole_maskgr.trainer.checkpoint import CheckpointError, recorded_locations, write_checkpoint
from recbole_maskgr.trainer.safe import NonFiniteLossError

from conftest import TINY
from test_reliability import (INTER, ITEM, TOY_SETTINGS, cli_error, nan_on_call, replace, settings_for, toy_config,
                              write_toy)

REPO = Path(__file__).resolve().parents[1]


# ====================================================================== non-finite timestamps
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN", "Infinity"])
def test_non_finite_timestamps_are_refused_like_empty_ones(workdir, value):
    write_toy(workdir, inter=replace(INTER, 4, f"u1\ti4\t{value}"))
    with pytest.raises(ConfigError, match=rf"toy.inter' has 1 malformed row\(s\): line 5: column 'timestamp' "
                                          rf"value '{value}' is not a finite number"):
        quick_start.create_dataset(toy_config(workdir))
    assert not (workdir / "sid").exists()


# ====================================================================== forged SID caches
N_ITEMS = 60


def small_tokenizer(cache_dir) -> SIDTokenizer:
    return SIDTokenizer(levels=2, codebook_size=8, n_iter=5, cache_dir=str(cache_dir), show_progress=False)


def item_vectors():
    return np.random.default_rng(0).normal(size=(N_ITEMS, 12)).astype(np.float32), "test vectors"


def forge(path, edit) -> None:
    """Edit a cache file's tensors and recompute its checksum, as an attacker or a careless script would."""
    blob = torch.load(path, weights_only=True)
    blob["tensors"] = edit(dict(blob["tensors"]))
    blob["checksum"] = checksum(blob["key"], blob["tensors"])
    torch.save(blob, path)


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def with_row(codes, row, values):
    codes = codes.clone()
    codes[row] = torch.tensor(values)
    return {"codes": codes}


FORGED_TABLES = {
    "duplicate SIDs": (lambda t: with_row(t["codes"], 1, t["codes"][0].tolist()),
                       r"holding duplicate SIDs \(1 rows repeat another, e.g. items 0 and 1\)"),
    "code out of range": (lambda t: with_row(t["codes"], 3, [9, 0, 0]),
                          r"holding code 9 at level 0 \(item 3\), outside \[0, 8\)"),
    "negative code": (lambda t: with_row(t["codes"], 2, [1, -1, 0]), r"holding code -1 at level 1 \(item 2\), outside \[0, 8\)"),
    "padding SID": (lambda t: with_row(t["codes"], 4, [0, 0, 0]), r"holding the all-zero SID"),
    "wrong shape": (lambda t: {"codes": t["codes"][:, :2].contiguous()}, r"of shape \(60, 2\), expected \(60, 3\)"),
    "float table": (lambda t: {"codes": t["codes"].float()}, r"not an integer code table"),
}


@pytest.mark.parametrize("case", list(FORGED_TABLES))
def test_a_forged_sid_table_with_a_valid_checksum_is_deleted_and_rebuilt(tmp_path, caplog, case):
    edit, problem = FORGED_TABLES[case]
    tokenizer = small_tokenizer(tmp_path)
    built, report = tokenizer.fit_transform_vectors(N_ITEMS, item_vectors, "collaborative", "key-a")
    tokenizer.fit_transform_vectors(N_ITEMS, item_vectors, "collaborative", "key-b")
    path = report["cache_file"]
    other_file = [p for p in tmp_path.iterdir() if p.name != os.path.basename(path)][0]
    other_before = digest(other_file)
    forge(path, edit)

    with caplog.at_level(logging.WARNING):
        codes, again = small_tokenizer(tmp_path).fit_transform_vectors(N_ITEMS, item_vectors, "collaborative", "key-a")

    assert again["cache"]["codes"] == "miss" and torch.equal(codes, built)  # rebuilt, the same table
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and re.search(rf"SID cache file {re.escape(path)} is {problem}.*; deleting it and rebuilding$", warnings[0])
    assert digest(other_file) == other_before  # no other entry touched
    assert torch.equal(torch.load(path, weights_only=True)["tensors"]["codes"], built)  # the good table is back


@pytest.mark.parametrize("value, problem", [(float("nan"), "holding 1 non-finite values"),
                                            (float("inf"), "holding 1 non-finite values")])
def test_cached_embeddings_with_non_finite_values_are_deleted_and_re_encoded(tmp_path, monkeypatch, caplog,
                                                                            value, problem):
    calls = []

    def encode(texts, *args, **kwargs):
        calls.append(len(texts))
        return np.arange(len(texts) * 4, dtype=np.float32).reshape(len(texts), 4)

    monkeypatch.setattr(tokenizer_module, "encode_texts", encode)
    texts = [f"thing {i}" for i in range(5)]
    tokenizer = small_tokenizer(tmp_path)
    first, _ = tokenizer.embed(texts)
    key = tokenizer.stored_embedding_key(texts)

    def poison(tensors):
        tensors["emb"] = tensors["emb"].clone()
        tensors["emb"][2, 1] = value
        return tensors

    forge(tokenizer.cache.path("emb", key), poison)
    with caplog.at_level(logging.WARNING):
        vectors, origin = tokenizer.embed(texts)
    assert origin == "miss" and calls == [5, 5] and np.isfinite(vectors).all()
    assert any(problem in r.getMessage() and "e.g. in item 2" in r.getMessage() for r in caplog.records)


# ====================================================================== refused writes
def disk_full(monkeypatch):
    """torch.save fails as on a full disk: torch's zip writer wraps the OSError in a RuntimeError."""
    def save(obj, handle):
        handle.write(b"partial")
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")

    monkeypatch.setattr(torch, "save", save)  # files.atomic_save imports torch when it writes


def test_a_failing_sid_cache_write_only_warns_and_the_table_is_still_built(tmp_path, monkeypatch, caplog):
    expected, _ = small_tokenizer(tmp_path / "ok").fit_transform_vectors(N_ITEMS, item_vectors, "collaborative", "k")
    disk_full(monkeypatch)
    with caplog.at_level(logging.WARNING):
        codes, report = small_tokenizer(tmp_path / "full").fit_transform_vectors(N_ITEMS, item_vectors,
                                                                                 "collaborative", "k")
    assert torch.equal(codes, expected) and report["cache_file"] == "not written"
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert re.fullmatch(r"SID cache file .*/full/sid-\w+\.pt could not be written \(No space left on device\); "
                        r"going on without caching it \(the next run builds it again\)", warning)
    assert list((tmp_path / "full").iterdir()) == []  # no temporary file left


def test_a_failing_checkpoint_write_is_one_error_and_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "MaskGR-x.pth"
    write_checkpoint({"weights": torch.ones(3)}, str(path))
    before = digest(path)
    disk_full(monkeypatch)
    with pytest.raises(CheckpointError, match=r"Could not write checkpoint '.*MaskGR-x.pth': No space left on "
                                              r"device\. Checkpoints written before are intact\.") as err:
        write_checkpoint({"weights": torch.zeros(3)}, str(path))
    assert err.value.__suppress_context__  # no chained tracebacks behind it
    assert digest(path) == before and [p.name for p in tmp_path.iterdir()] == ["MaskGR-x.pth"]


LIMITED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
import run_recbole_maskgr
sys.exit(run_recbole_maskgr.main(sys.argv[2:]))
"""


def test_a_file_size_limit_during_training_is_one_error_line(workdir):
    """A real refused write (RLIMIT_FSIZE; Python ignores SIGXFSZ, so writes fail with EFBIG)."""
    args = [f"--{key}={value}" for key, value in dict(TINY, epochs=2).items()]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", LIMITED, "60000", "--model=SASRec", *args],
                          cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and re.match(r"error: Could not write checkpoint '.*SASRec-.*\.pth': File too large\. "
                                         r"Checkpoints written before are intact\.", errors[0]), done.stderr[-3000:]
    assert not [p for p in (workdir / "saved").iterdir() if p.name.startswith(".tmp-")]


# ====================================================================== load_data_and_model
def test_load_data_and_model_never_writes_where_the_checkpoint_says(workdir, caplog):
    """A checkpoint whose recorded settings name other folders: nothing is written there; the caller's
    (or the default) folders are used, and the weights load."""
    settings = settings_for(str(workdir / "cache"), workdir / "saved", sid_source="collaborative")
    best = quick_start.run("MaskGR", "ml-100k", config_dict=settings)["saved_model_file"]
    checkpoint = torch.load(best, weights_only=True)
    elsewhere = workdir / "elsewhere"
    checkpoint["config"].update(sid_cache_dir=str(elsewhere / "sid"), checkpoint_dir=str(elsewhere / "saved"),
                                data_path=str(elsewhere / "data"), sid_text_encoder=str(elsewhere / "encoder"),
                                save_dataset=True, dataset_save_path=str(elsewhere / "dataset.pth"))
    tampered = workdir / "tampered.pth"
    torch.save(checkpoint, tampered)

    mine = workdir / "my-cache"
    with caplog.at_level(logging.INFO):
        config, model, *_ = quick_start.load_data_and_model(str(tampered), config_dict={"sid_cache_dir": str(mine)})

    assert not elsewhere.exists()
    assert config["sid_cache_dir"] == str(mine) and any(mine.iterdir())  # the caller's cache was used
    assert config["checkpoint_dir"] == "saved" and not config["save_dataset"]  # the defaults
    assert all(torch.equal(model.state_dict()[k], v.to(model.state_dict()[k].device))
               for k, v in checkpoint["state_dict"].items())
    assert any("not taken from the file" in r.getMessage() and "sid_cache_dir" in r.getMessage()
               for r in caplog.records)
    assert recorded_locations(str(tampered))["sid_cache_dir"] == str(elsewhere / "sid")  # for callers that trust it


def test_a_checkpoint_whose_default_text_fields_are_absent_reloads(workdir):
    """The run used the default sid_text_fields, some absent from its .item file (allowed); the checkpoint
    records them like every setting, and reloading must not take them for ones the user typed."""
    from recbole_maskgr.trainer.checkpoint import CHECKPOINT_FORMAT, plain_config

    write_toy(workdir)
    trained = toy_without_text_fields_setting(workdir)
    recorded = plain_config(trained)
    assert "price" in recorded["sid_text_fields"]  # the default; toy.item has no price column
    checkpoint = workdir / "run.pth"
    torch.save({"format": CHECKPOINT_FORMAT, "config": recorded}, checkpoint)
    config = quick_start.checkpoint_config(str(checkpoint), {"data_path": str(workdir / "data"),
                                                             "sid_cache_dir": trained["sid_cache_dir"]})
    assert validate_atomic_files(config) == []  # no "sid_text_fields names ['categories', 'price']" error
    assert config["sid_text_fields"] == recorded["sid_text_fields"]
    typed = dict(recorded, sid_text_fields=["title", "price"])  # one the user did write is still checked
    torch.save({"format": CHECKPOINT_FORMAT, "config": typed}, checkpoint)
    config = quick_start.checkpoint_config(str(checkpoint), {"data_path": str(workdir / "data")})
    with pytest.raises(ConfigError, match=r"sid_text_fields names \['price'\]"):
        validate_atomic_files(config)


# ====================================================================== unclear messages
ONE_EACH = [INTER[0]] + [f"u{u}\ti{u % 5 + 1}\t{u}" for u in range(1, 30)]  # 29 users, one interaction each


@pytest.mark.parametrize("model, detail", [
    ("MaskGR", r"each of its 29 users has one interaction after RecBole's filters"),
    ("SASRec", r"the split \{'LS': 'valid_and_test'\} leaves the training part empty"),
])
def test_one_interaction_per_user_says_no_training_sequences_are_left(workdir, model, detail):
    write_toy(workdir, inter=ONE_EACH)
    config = toy_config(workdir, model=model, user_inter_num_interval="[0,inf)")
    with pytest.raises(ConfigError, match=rf"Dataset 'toy' leaves no training sequences: {detail}\. Training needs "
                                          r"users with at least 2 interactions .*Add interactions; RecBole's "
                                          r"filters already keep everything\.$"):
        quick_start.build(config, log=False)
    assert not (workdir / "sid").exists()  # said before the SID build


def test_no_training_sequences_names_the_filters_that_narrowed_the_data(workdir):
    # every user also rated an item nobody else rated: the item filter drops those, leaving one each
    write_toy(workdir, inter=INTER[:1] + [f"u{u}\ti1\t{u}" for u in range(1, 11)]
              + [f"u{u}\tj{u}\t{u + 100}" for u in range(1, 11)])
    config = toy_config(workdir, model="SASRec", user_inter_num_interval="[0,inf)", item_inter_num_interval="[5,inf)")
    with pytest.raises(ConfigError, match=r"leaves no training sequences: .*Add interactions; loosen RecBole's "
                                          r"filters \{'item_inter_num_interval': '\[5,inf\)'\}\.$"):
        quick_start.build(config, log=False)


def test_a_header_only_inter_file_is_named_not_the_filters(workdir):
    write_toy(workdir, inter=INTER[:1])
    with pytest.raises(ConfigError, match=r"toy.inter' has a header but no interactions\. Add one row per "
                                          r"interaction below it, in the header's order \(e.g. 'u1<TAB>i1<TAB>1'\)"):
        quick_start.create_dataset(toy_config(workdir, model="SASRec"))


@pytest.mark.parametrize("value, keeps", [("[0,inf)", True), ("[1,inf)", True), ("(1,inf)", False),
                                          ("[5,inf)", False), ([5, 40], False), ("[0,40]", False)])
def test_count_filters_that_keep_everything_are_recognised(value, keeps):
    assert keeps_everything(value) is keeps


def test_emptied_data_with_open_filters_does_not_ask_to_loosen_them(workdir):
    write_toy(workdir)
    config = toy_config(workdir, model="SASRec", user_inter_num_interval="[0,inf)")
    message = str(nothing_left(config))
    assert "Loosen" not in message and re.search(
        r"has no interactions left after loading, and RecBole's filters keep everything \(.*\): the rows of "
        r"'.*toy.inter' lack a user or item id", message)


def test_identical_item_texts_are_named_instead_of_asking_for_more_levels(workdir):
    same = [ITEM[0]] + [f"i{i}\tThe same thing\tAcme" for i in range(1, 6)]
    write_toy(workdir, item=same)
    config = toy_config(workdir, sid_codebook_size=4)
    with pytest.raises(ConfigError, match=r"5 items have the identical SID text 'title: The same thing; brand: Acme' "
                                          r"\(e.g. items i1, i2, i3\), but at most 3 items can share one .* so more "
                                          r"sid_levels do not help: add sid_text_fields .* or set sid_source: "
                                          r"collaborative"):
        quick_start.create_dataset(config)
    assert not (workdir / "sid").exists()  # nothing embedded


def test_a_plain_text_resume_file_is_not_called_a_pickle(workdir, capsys):
    text = workdir / "notes.pth"
    text.write_text("hello, these are my notes\n")
    error = cli_error(capsys, ["--model=SASRec", f"--resume={text}"])
    assert re.fullmatch(r"error: '.*notes.pth' is not a checkpoint: it is neither a torch file nor a pickle \(it "
                        r"starts with b'hello, these are'\)\. Pass a file a run wrote, e.g\. "
                        r"saved/<Model>-<time>-last.pth\.", error)


@pytest.mark.parametrize("call, ending", [
    (1, r"No checkpoint was written yet\. Lower learning_rate or set clip_grad_norm, then train anew\."),
    (5, r"Last good checkpoint: (?P<last>\S+)\. Lower learning_rate or set clip_grad_norm, then resume with "
        r"--resume=(?P=last)\."),
])
def test_the_nan_message_offers_resuming_only_from_a_checkpoint_that_exists(workdir, monkeypatch, call, ending):
    settings = settings_for(str(workdir / "sid"), workdir / "saved", model="SASRec", checkpoint_every_steps=2)
    _, (train, valid, _), model, trainer = quick_start.build(make_config("SASRec", "ml-100k", config_dict=settings),
                                                             log=False)
    nan_on_call(monkeypatch, model, call)
    with pytest.raises(NonFiniteLossError) as err:
        trainer.fit(train, valid)
    assert re.search(ending + "$", str(err.value)), str(err.value)


def test_a_typo_in_sid_text_fields_is_an_error_not_a_switch_to_collaborative_sids(workdir):
    write_toy(workdir)
    config = toy_config(workdir, sid_source="auto", sid_text_fields=["titel", "brand"])
    with pytest.raises(ConfigError, match=r"sid_text_fields names \['titel'\], which '.*toy.item' does not have "
                                          r"\(its header has: item_id, title, brand\)\. Fix the names"):
        quick_start.create_dataset(config)


def toy_without_text_fields_setting(workdir, **extra):
    """The toy data with the default sid_text_fields (title, brand, categories, price), which the user did not set."""
    settings = settings_for(str(workdir / "sid"), workdir / "saved", dataset="toy",
                            **dict({"load_col": TOY_SETTINGS["load_col"]}, **extra))
    return make_config("MaskGR", "toy", config_dict=dict(settings, data_path=str(workdir / "data")))


def test_default_text_fields_may_be_absent_and_the_logged_reason_is_true(workdir, caplog):
    write_toy(workdir)
    assert validate_atomic_files(toy_without_text_fields_setting(workdir)) == []  # categories, price: absent
    write_toy(workdir, item=["item_id:token\tgenre:token"] + [f"i{i}\tg{i}" for i in range(1, 6)])
    config = toy_without_text_fields_setting(workdir, load_col={"inter": ["user_id", "item_id", "timestamp"],
                                                                "item": ["item_id", "genre"]})
    with caplog.at_level(logging.INFO):
        quick_start.create_dataset(config)
    assert any("SID source: collaborative (sid_source: auto; none of sid_text_fields ['title', 'brand', "
               "'categories', 'price'] is among the loaded item fields ['genre'])" in r.getMessage()
               for r in caplog.records)
