"""Reliability: resume after kill -9, clear errors for bad input before long work, refusal of foreign
checkpoints, NaN reporting, determinism. CPU-only, tiny ml-100k settings."""

import hashlib
import os
import pickle
from pathlib import Path

import pytest
import torch
import yaml

import run_recbole_maskgr
from benchmarks.killed_run import finish, kill_after_mid_epoch_checkpoint, start_cli
from recbole_maskgr import quick_start
from recbole_maskgr.config import ConfigError, known_settings, make_config
from recbole_maskgr.data.atomic_files import validate_atomic_files
from recbole_maskgr.trainer.checkpoint import CheckpointError, check_resume_file, safe_load
from recbole_maskgr.trainer.safe import NonFiniteLossError, last_checkpoint_path

from conftest import TINY

# MaskGR small enough for seconds per run; batch 64 gives ~14 steps per epoch to interrupt.
MASKGR = dict(
    TINY, sid_levels=2, sid_codebook_size=16, hidden_size=32, n_heads=2, inner_size=64, n_layers=1,
    beam_width=10, warmup_steps=5, train_batch_size=64,
)


def settings_for(sid_cache, checkpoint_dir, model="MaskGR", dataset="ml-100k", **extra):
    """The tiny MaskGR settings, less what `model` does not read (unknown settings are refused)."""
    settings = dict(MASKGR, sid_cache_dir=sid_cache, checkpoint_dir=str(checkpoint_dir), **extra)
    known = known_settings(model, dataset)
    return {key: value for key, value in settings.items() if key in known}


def plain(result):
    return {k: float(v) for k, v in result.items()}


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ====================================================================== resume after kill -9
@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, sid_cache):
    folder = tmp_path_factory.mktemp("uninterrupted")
    settings = settings_for(sid_cache, folder / "saved", epochs=4, checkpoint_every_steps=5)
    result = finish(start_cli(folder, settings), folder)
    result.update(settings=settings)
    return result


def test_resume_after_kill_reaches_the_same_metrics_and_weights(uninterrupted, tmp_path_factory):
    folder = tmp_path_factory.mktemp("killed")
    settings = dict(uninterrupted["settings"], checkpoint_dir=str(folder / "saved"))
    position = kill_after_mid_epoch_checkpoint(start_cli(folder, settings), folder, min_steps=21)  # epoch 1
    assert 0 < position["batches_done"]
    (last,) = (folder / "saved").glob("*-last.pth")

    resumed = finish(start_cli(folder, settings, f"--resume={last}"), folder)

    assert resumed["valid"] == uninterrupted["valid"]
    assert resumed["test"] == uninterrupted["test"]
    assert Path(resumed["best"]).name != Path(last).name  # the final test used the best checkpoint
    ours, theirs = safe_load(resumed["best"]), safe_load(uninterrupted["best"])
    assert ours["epoch"] == theirs["epoch"]
    assert ours["position"]["train_steps"] == theirs["position"]["train_steps"] > 0  # the LR schedule's step
    for name, tensor in theirs["state_dict"].items():
        assert torch.equal(ours["state_dict"][name], tensor), name


def test_last_checkpoint_sits_beside_the_best_and_marks_the_end(uninterrupted):
    best = uninterrupted["best"]
    last = safe_load(last_checkpoint_path(str(best)))
    assert last["epoch"] == 3 and last["position"]["batches_done"] == 0
    assert last["best_model_file"] == uninterrupted["best"]
    assert last["best_valid_result"] == uninterrupted["valid"]
    assert safe_load(str(best))["best_valid_result"] == uninterrupted["valid"]  # not the previous best


def test_resuming_a_finished_run_only_tests_and_keeps_the_best(uninterrupted, workdir):
    best = Path(uninterrupted["best"])
    before = digest(best)
    config = make_config("MaskGR", "ml-100k", config_dict=uninterrupted["settings"])
    _, (train, valid, test), _, trainer = quick_start.build(config, log=False)
    trainer.resume_checkpoint(last_checkpoint_path(str(best)))
    trainer.fit(train, valid)
    assert plain(trainer.evaluate(test)) == uninterrupted["test"]
    assert digest(best) == before


# ====================================================================== foreign checkpoints
class Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def cli_error(capsys, argv) -> str:
    assert run_recbole_maskgr.main(argv) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, errors  # (progress bars of the text encoder may precede it)
    return errors[0]


def test_resume_refuses_a_malicious_pickle(workdir, capsys, sid_cache):
    evil = workdir / "evil.pth"
    with open(evil, "wb") as handle:
        pickle.dump({"state_dict": Exploit()}, handle)
    config_file = workdir / "s.yaml"
    config_file.write_text(yaml.safe_dump(settings_for(sid_cache, workdir / "saved")))
    error = cli_error(capsys, ["--model=MaskGR", f"--config_files={config_file}", f"--resume={evil}"])
    assert "Refusing to load" in error and not (workdir / "pwned").exists()


def test_resume_refuses_a_checkpoint_of_another_sid_table(uninterrupted, workdir, capsys, sid_cache):
    best = uninterrupted["best"]
    before = digest(best)
    config_file = workdir / "s.yaml"
    config_file.write_text(yaml.safe_dump(settings_for(sid_cache, workdir / "saved", sid_seed=7)))
    error = cli_error(capsys, ["--model=MaskGR", f"--config_files={config_file}", f"--resume={best}"])
    assert "different data: sid_sha256" in error and digest(best) == before


def test_resume_file_is_checked_before_the_dataset_is_built(uninterrupted, workdir):
    best = str(uninterrupted["best"])
    with pytest.raises(CheckpointError, match="trained with dataset 'ml-100k', but this run uses 'toy'"):
        check_resume_file(best, {"model": "MaskGR", "dataset": "toy"})
    with pytest.raises(CheckpointError, match="trained with model 'MaskGR', but this run uses 'TIGER'"):
        check_resume_file(best, {"model": "TIGER", "dataset": "ml-100k"})


def snapshot(*folders: Path) -> dict:
    """Every file under the folders with its digest."""
    return {str(p): digest(p) for folder in folders for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def test_a_checkpoint_cannot_choose_where_a_resumed_run_writes(uninterrupted, workdir, capsys, sid_cache):
    """A copied checkpoint whose record names a file elsewhere, resumed into an empty --checkpoint_dir:
    every new file lies in that folder; the named file and the original run are untouched."""
    original = Path(uninterrupted["best"]).parent
    victim = workdir / "elsewhere" / Path(uninterrupted["best"]).name  # the name the record will carry
    victim.parent.mkdir()
    victim.write_bytes(b"not a checkpoint; must survive")
    copied = workdir / "copied"
    copied.mkdir()
    best_name = Path(uninterrupted["best"]).name
    (copied / best_name).write_bytes(Path(uninterrupted["best"]).read_bytes())
    last = safe_load(last_checkpoint_path(uninterrupted["best"]))
    last["best_model_file"] = str(victim)  # tampered: the run's best "lives" elsewhere
    torch.save(last, copied / Path(last_checkpoint_path(best_name)).name)
    before = snapshot(original, copied, victim.parent)

    new_dir = workdir / "saved2"
    config_file = workdir / "s.yaml"
    config_file.write_text(yaml.safe_dump(settings_for(sid_cache, new_dir, epochs=4)))
    resume = copied / Path(last_checkpoint_path(best_name)).name
    assert run_recbole_maskgr.main(["--model=MaskGR", f"--config_files={config_file}", f"--resume={resume}"]) == 0

    assert snapshot(original, copied, victim.parent) == before
    written = sorted(p.name for p in new_dir.iterdir())
    assert len(written) == 1 and written[0].startswith("MaskGR-") and written[0] != best_name
    carried = safe_load(str(new_dir / written[0]))
    assert carried["best_model_file"] == str(new_dir / written[0])
    assert carried["best_valid_result"] == uninterrupted["valid"]


def test_a_missing_best_is_refused_without_writing(uninterrupted, workdir):
    last = safe_load(last_checkpoint_path(uninterrupted["best"]))
    last["best_model_file"] = "/somewhere/else/gone.pth"
    resume = workdir / "alone-last.pth"
    torch.save(last, resume)
    config = make_config("MaskGR", "ml-100k", config_dict=dict(uninterrupted["settings"],
                                                               checkpoint_dir=str(workdir / "saved")))
    _, _, _, trainer = quick_start.build(config, log=False)
    with pytest.raises(CheckpointError, match="best model is 'gone.pth', which is not next to it"):
        trainer.resume_checkpoint(str(resume))
    assert not (workdir / "saved").exists() or not any((workdir / "saved").iterdir())


def test_runs_started_in_the_same_second_get_their_own_files(tmp_path):
    from recbole_maskgr.trainer.run_files import claim_checkpoint_name

    wanted = str(tmp_path / "saved" / "MaskGR-Nov-30-2026_01-00-00.pth")
    first, second = claim_checkpoint_name(wanted), claim_checkpoint_name(wanted)
    assert first == wanted and second == wanted[: -len(".pth")] + "-2.pth"
    Path(last_checkpoint_path(wanted[: -len(".pth")] + "-3.pth")).write_bytes(b"another run's")
    assert claim_checkpoint_name(wanted).endswith("-4.pth")  # -3 has a rolling file: taken
    with pytest.raises(CheckpointError, match="is empty: the run that claimed this name stopped"):
        safe_load(first)


def test_another_model_shape_is_refused_before_the_dataset_with_the_settings(uninterrupted, workdir):
    best = str(uninterrupted["best"])
    config = {"model": "MaskGR", "dataset": "ml-100k", "hidden_size": 64, "n_layers": 1}
    with pytest.raises(CheckpointError, match=r"another model shape than this run \(hidden_size: 32 there, 64 "
                                              r"now\)\. Resume with the checkpoint's settings \(e\.g\. --hidden_size=32"):
        check_resume_file(best, config)


def test_shape_mismatch_at_load_names_the_differing_settings(uninterrupted, workdir):
    settings = dict(uninterrupted["settings"], inner_size=48, checkpoint_dir=str(workdir / "saved"))
    _, _, _, trainer = quick_start.build(make_config("MaskGR", "ml-100k", config_dict=settings), log=False)
    with pytest.raises(CheckpointError, match=r"does not fit this model \(encoder.*is \(64, 32\) there, \(48, 32\) "
                                              r"here; .* more\)\. Settings that differ: .*inner_size: 64 there, 48 now"):
        trainer.load_checkpoint(str(uninterrupted["best"]))


def test_the_log_and_every_failure_name_the_file_to_resume_from(workdir, monkeypatch, sid_cache, caplog):
    settings = settings_for(sid_cache, workdir / "saved", checkpoint_every_steps=2)
    _, (train, valid, _), model, trainer = quick_start.build(make_config("MaskGR", "ml-100k", config_dict=settings),
                                                               log=False)
    real, calls = model.calculate_loss, []

    def crash_on_fifth(interaction):
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("disk full")
        return real(interaction)

    monkeypatch.setattr(model, "calculate_loss", crash_on_fifth)
    with caplog.at_level("INFO"), pytest.raises(RuntimeError, match="disk full") as err:
        trainer.fit(train, valid)
    resume = f"--resume={trainer.last_checkpoint_file}"
    assert any(resume in record.getMessage() and "Checkpoints:" in record.getMessage() for record in caplog.records)
    assert f"Continue this run with {resume}" in err.value.__notes__
    assert safe_load(trainer.last_checkpoint_file)["position"]["train_steps"] == 4


# ====================================================================== NaN / inf
def nan_on_call(monkeypatch, model, call: int):
    real, calls = model.calculate_loss, []

    def loss(interaction):
        calls.append(1)
        value = real(interaction)
        return value * float("nan") if len(calls) == call else value

    monkeypatch.setattr(model, "calculate_loss", loss)


@pytest.mark.parametrize("model_name", ["MaskGR", "SASRec"])
def test_non_finite_loss_names_the_last_good_checkpoint(workdir, monkeypatch, sid_cache, model_name):
    settings = settings_for(sid_cache, workdir / "saved", model=model_name, checkpoint_every_steps=2)
    config = make_config(model_name, "ml-100k", config_dict=settings)
    _, (train, valid, _), model, trainer = quick_start.build(config, log=False)
    nan_on_call(monkeypatch, model, 5)
    with pytest.raises(NonFiniteLossError, match="Training loss became nan after 4 optimizer steps") as err:
        trainer.fit(train, valid)
    last = trainer.last_checkpoint_file
    assert f"Last good checkpoint: {last}." in str(err.value)
    assert safe_load(last)["position"]["train_steps"] == 4


# ====================================================================== determinism
def test_same_seed_gives_identical_metrics(workdir, sid_cache):
    results = [
        quick_start.run("MaskGR", "ml-100k", config_dict=settings_for(sid_cache, workdir / f"saved{i}", epochs=2))
        for i in range(2)
    ]
    assert plain(results[0]["best_valid_result"]) == plain(results[1]["best_valid_result"])
    assert plain(results[0]["test_result"]) == plain(results[1]["test_result"])


# ====================================================================== bad settings
@pytest.mark.parametrize(
    "override, message",
    [
        ({"beam_width": 5}, r"beam_width \(5\) is below max\(topk\) \(10\).*Set beam_width >= 10"),
        ({"decode_steps": [2, 2]}, r"decode_steps \[2, 2\] must be positive and add up to the SID length 3\. Each"),
        ({"decode_steps": 9}, r"decode_steps must be between 1 and 3 .*H = sid_levels \+ 1 = 3 tokens"),
        ({"decode_steps": "two"}, r"'decode_steps' in config_dict must be an integer >= 1, a list of integers >= 1 like \[3, 2\], or ~ \(one token per pass\), got 'two'"),
        ({"sid_levels": 0}, r"'sid_levels' in config_dict must be an integer >= 1, got 0 \(residual k-means"),
        ({"sid_codebook_size": 1}, r"'sid_codebook_size' in config_dict must be an integer >= 2, got 1"),
        ({"target_mask_prob": 1.5}, r"'target_mask_prob' in config_dict must be a number in \[0, 1\], got 1.5"),
        ({"mask_t_min": 0.0}, r"'mask_t_min' in config_dict must be a number in \(0, 1\), got 0.0"),
        ({"mask_t_min": 1}, r"'mask_t_min' in config_dict must be a number in \(0, 1\), got 1 "),
        ({"item_mask_prob": -0.1}, r"'item_mask_prob' in config_dict must be a number in \[0, 1\], got -0.1"),
        ({"checkpoint_every_steps": -3}, r"'checkpoint_every_steps' in config_dict must be an integer >= 0, or ~ \(off\), got -3"),
        ({"clean_history_share": 2}, r"'clean_history_share' in config_dict must be a number in \[0, 1\], got 2"),
        ({"history_tokens": "tokens"}, r"'history_tokens' in config_dict must be 'codes' or 'items', got 'tokens'"),
        ({"clean_history_share": 0.5}, r"history_tokens: items needs clean_history_share: 1 \(got 0.5\)"),
        ({"loss_weight": "elbo"}, r"'loss_weight' in config_dict must be 'inverse_t' .* got 'elbo'"),
    ],
)
def test_bad_settings_fail_before_sid_embedding(workdir, override, message):
    saved, cache = workdir / "saved", workdir / "sid"
    settings = dict(MASKGR, checkpoint_dir=str(saved), sid_cache_dir=str(cache), **override)
    with pytest.raises(ConfigError, match=message):  # one-setting rules: when the config is made
        quick_start.build(make_config("MaskGR", "ml-100k", config_dict=settings), log=False)
    assert not saved.exists() and not cache.exists()


# ====================================================================== bad atomic files
INTER = ["user_id:token\titem_id:token\ttimestamp:float"] + [
    f"u{u}\ti{i}\t{10 * u + i}" for u in range(1, 4) for i in range(1, 6)
]
ITEM = ["item_id:token\ttitle:token_seq\tbrand:token"] + [f"i{i}\tThing number {i}\tAcme" for i in range(1, 6)]
TOY_SETTINGS = {
    "load_col": {"inter": ["user_id", "item_id", "timestamp"], "item": ["item_id", "title", "brand"]},
    "sid_text_fields": ["title", "brand"],
    "sid_source": "text",  # these cases are about item text files
}


def write_toy(root: Path, inter=INTER, item=ITEM, encoding="utf-8") -> None:
    """data/toy/toy.inter and toy.item under `root` (item=None: no .item file)."""
    folder = root / "data" / "toy"
    folder.mkdir(parents=True, exist_ok=True)
    for suffix, lines in (("inter", inter), ("item", item)):
        if lines is not None:
            (folder / f"toy.{suffix}").write_bytes(("\n".join(lines) + "\n").encode(encoding))


def toy_config(workdir, model="MaskGR", **extra):
    settings = settings_for(str(workdir / "sid"), workdir / "saved", model=model, dataset="toy", **TOY_SETTINGS)
    settings.update(data_path=str(workdir / "data"), **extra)
    return make_config(model, "toy", config_dict=settings)


def replace(lines, index, line):
    return lines[:index] + [line] + lines[index + 1 :]


BAD_FILES = {
    "header without types": (dict(inter=replace(INTER, 0, "user_id\titem_id\ttimestamp")),
                             r"toy.inter' header column 'user_id' is not 'name:type'"),
    "unknown type": (dict(item=replace(ITEM, 0, "item_id:token\ttitle:text\tbrand:token")),
                     r"toy.item' header column 'title' has unknown type 'text'. Use one of: token, token_seq"),
    "missing .item": (dict(item=None), r"MaskGR needs item text \(sid_source: text\), but '.*toy.item' does not exist"),
    "no text field": (dict(item=["item_id:token\tgenre:token"] + [f"i{i}\tg" for i in range(1, 6)]),
                      r"sid_text_fields names \['title', 'brand'\], which '.*toy.item' does not have "
                      r"\(its header has: item_id, genre\)"),
    "non-UTF-8 bytes": (dict(item=replace(ITEM, 2, "i2\tCaf\xe9 chair\tAcme"), encoding="latin-1"),
                        r"toy.item' line 3 is not valid utf-8: byte 0xe9 at column 7"),
    "duplicate item ids": (dict(item=ITEM + ["i2\tAgain\tAcme"]),
                           r"toy.item' lists item id 'i2' more than once \(lines 3 and 7\); 1 duplicate"),
    "item id column missing": (dict(inter=replace(INTER, 0, "user_id:token\tiid:token\ttimestamp:float")),
                               r"toy.inter' has no column 'item_id' .*ITEM_ID_FIELD is 'item_id'"),
    "byte-order mark": (dict(inter=replace(INTER, 0, "\ufeff" + INTER[0])),
                        r"toy.inter' starts with a byte-order mark"),
    "separator inside a value": (dict(item=replace(ITEM, 4, "i4\tTab\there\tAcme")),
                                 r"toy.item' has 1 malformed row\(s\): line 5: 4 fields, the header has 3"),
    "row with too few fields": (dict(inter=replace(INTER, 2, "u1\ti2")),
                                r"toy.inter' has 1 malformed row\(s\): line 3: 2 fields, the header has 3"),
    "timestamp not a number": (dict(inter=replace(INTER, 4, "u1\ti4\tyesterday")),
                               r"toy.inter' has 1 malformed row\(s\): line 5: column 'timestamp' value "
                               r"'yesterday' is not a number"),
    "empty timestamp": (dict(inter=replace(INTER, 4, "u1\ti4\t ")),
                        r"toy.inter' has 1 malformed row\(s\): line 5: column 'timestamp' is empty"),
    "every malformed row named": (dict(inter=replace(replace(INTER, 2, "u1\ti2"), 9, "u2\ti4\tx1")),
                                  r"toy.inter' has 2 malformed row\(s\): line 3: 2 fields.*; line 10: column "
                                  r"'timestamp' value 'x1' is not a number\. Fix or remove them"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_atomic_files_fail_clearly_before_loading(workdir, case):
    files, message = BAD_FILES[case]
    write_toy(workdir, **files)
    with pytest.raises(ConfigError, match=message):
        quick_start.build(toy_config(workdir), log=False)
    assert not (workdir / "saved").exists() and not (workdir / "sid").exists()


def test_item_file_must_be_loaded_for_sid_models(workdir):
    write_toy(workdir)
    config = toy_config(workdir, load_col={"inter": ["user_id", "item_id", "timestamp"]})
    with pytest.raises(ConfigError, match="load_col has no 'item' entry"):
        quick_start.create_dataset(config)


def test_bad_file_is_one_error_line_on_the_command_line(workdir, capsys):
    write_toy(workdir, inter=replace(INTER, 0, "user_id\titem_id\ttimestamp"))
    config_file = workdir / "toy.yaml"
    config_file.write_text(yaml.safe_dump(TOY_SETTINGS))
    error = cli_error(capsys, ["--model=MaskGR", "--dataset=toy", f"--data_path={workdir / 'data'}",
                               f"--config_files={config_file}"])
    assert "header column 'user_id' is not 'name:type'" in error


def test_missing_items_and_empty_titles_are_warned_once_with_counts(workdir):
    item = ITEM[:3] + ["i3\t   \tAcme", "i4\t\tAcme"]  # i5 has no row; i3/i4 have only a brand
    write_toy(workdir, item=item)
    warnings = validate_atomic_files(toy_config(workdir))
    assert len(warnings) == 2
    assert "2 of 4 items have an empty or whitespace-only 'title' (e.g. item 'i3', line 4)" in warnings[0]
    assert "1 item id(s) in" in warnings[1] and "have no row in" in warnings[1] and "(e.g. 'i5', line 6)" in warnings[1]


def test_items_without_any_text_are_left_to_the_dataset_hook(workdir):
    write_toy(workdir, item=ITEM[:-1] + ["i5\t\t"])
    assert validate_atomic_files(toy_config(workdir)) == []


def test_sasrec_only_gets_header_and_encoding_checks(workdir):
    write_toy(workdir, item=None)
    assert validate_atomic_files(toy_config(workdir, model="SASRec")) == [
        "load_col asks for item fields ['item_id', 'title', 'brand'], but "
        f"'{workdir / 'data' / 'toy' / 'toy.item'}' does not exist; item features are not loaded."
    ]


def test_sid_caches_load_weights_only(workdir, monkeypatch):
    """The SID cache reads with torch.load(weights_only=True): a pickle planted there never runs."""
    from recbole_maskgr.sid.cache import SIDCache

    cache = SIDCache(str(workdir))
    with open(cache.path("sid", "k"), "wb") as handle:
        pickle.dump({"format": 1, "key": "k", "tensors": Exploit(), "checksum": ""}, handle)
    assert cache.load("sid", "k") is None  # refused, deleted, rebuilt by the caller
    assert not (workdir / "pwned").exists() and not os.path.exists(cache.path("sid", "k"))


def test_training_budget_also_stops_maskgr(workdir, sid_cache):
    """The budget must reach SIDTrainer's scheduled-LR steps too."""
    settings = settings_for(sid_cache, workdir / "saved", epochs=50, train_budget_s=1)
    result = quick_start.run("MaskGR", "ml-100k", config_dict=settings)
    assert result["epochs_trained"] < 50 and os.path.isfile(result["saved_model_file"])


def test_quotes_in_atomic_files_are_text(workdir):
    """Atomic files have no quoting convention: quotes at the start, middle and end load verbatim."""
    titles = ['"Wally" the Flying Pig', 'Say "hi" now', 'The end"', '"', "plain"]
    item = ["item_id:token\ttitle:token\tbrand:token"] + [f"i{i}\t{t}\tAcme" for i, t in enumerate(titles, 1)]
    write_toy(workdir, item=item)
    dataset = quick_start.create_dataset(toy_config(workdir, model="SASRec"))
    loaded = dict(zip(dataset.field2id_token["item_id"][dataset.item_feat["item_id"].to_numpy(int)],
                      dataset.field2id_token["title"][dataset.item_feat["title"].to_numpy(int)]))
    assert {loaded[f"i{i}"] for i in range(1, 6)} == set(titles)


def test_a_dataset_emptied_by_the_filters_says_which_filters(workdir):
    write_toy(workdir)
    config = toy_config(workdir, model="SASRec", user_inter_num_interval="[10,inf)")
    with pytest.raises(ConfigError, match=r"Dataset 'toy' has no interactions left after RecBole's filters "
                                          r"\(\{'user_inter_num_interval': '\[10,inf\)', .*\}\)\. Loosen them"):
        quick_start.create_dataset(config)
