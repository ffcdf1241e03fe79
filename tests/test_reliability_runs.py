"""Runs and leaderboards (issue 22, items 2, 7, 10, noise and litter): tables kept and never lost,
every bad input one `error:` line before training (also under --nproc), Ctrl-C as one line, only
RecBole's own noise hidden, and no files left behind by killed or same-second runs."""

import json
import os
import socket
import subprocess
import sys
import warnings

import pytest

import run_recbole_maskgr
from recbole_maskgr import quick_start
from recbole_maskgr.config import ConfigError, make_config
from recbole_maskgr.trainer.safe import SafeCheckpointMixin

from conftest import REPO, TINY

from test_reliability import INTER, replace, write_toy

POP = {key: TINY[key] for key in ("epochs", "show_progress", "state", "user_inter_num_interval")}
SASREC = dict(TINY, epochs=2)


def args(settings: dict) -> list[str]:
    return [f"--{key}={value}" for key, value in settings.items()]


def cli_error(capsys, argv, status=2) -> str:
    """The one `error:` line of a refused command line, which printed no traceback."""
    assert run_recbole_maskgr.main(argv) == status
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


def checkpoints(folder) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.endswith(".pth")) if folder.exists() else []


# ====================================================================== leaderboards
def test_an_empty_model_list_is_an_error_not_an_empty_table(workdir, capsys):
    assert "--model is empty" in cli_error(capsys, ["--model=", *args(POP)])
    assert "--model is empty" in cli_error(capsys, ["--model= , ", "--nproc=2", *args(POP)])
    with pytest.raises(ConfigError, match="--model is empty"):
        quick_start.leaderboard([], "ml-100k", config_dict=POP)
    assert not (workdir / "results").exists()


def test_each_finished_row_is_on_disk_when_a_later_model_fails(workdir, monkeypatch):
    real_run = quick_start.run

    def run(model, *rest, **kwargs):
        if model == "SASRec":
            raise RuntimeError("out of memory")
        return real_run(model, *rest, **kwargs)

    monkeypatch.setattr(quick_start, "run", run)
    with pytest.raises(RuntimeError, match="out of memory"):
        quick_start.leaderboard(["Pop", "SASRec"], "ml-100k", config_dict=dict(POP, checkpoint_dir="saved"))
    table = json.loads((workdir / "results" / "leaderboard-ml-100k.json").read_text())
    assert [row["model"] for row in table["rows"]] == ["Pop"] and table["models"] == ["Pop", "SASRec"]
    markdown = (workdir / "results" / "leaderboard-ml-100k.md").read_text()
    assert "| Pop |" in markdown and "1 of 2 models finished; still to run: SASRec" in markdown
    assert not [name for name in os.listdir(workdir / "results") if name.startswith(".tmp-")]


def test_a_rerun_starts_a_new_table_unless_asked_to_overwrite(workdir, capsys):
    argv = ["--model=Pop,Pop", *args(dict(POP, checkpoint_dir="saved"))]
    assert run_recbole_maskgr.main(argv) == 0
    first = (workdir / "results" / "leaderboard-ml-100k.json").read_text()
    assert run_recbole_maskgr.main(argv) == 0
    assert (workdir / "results" / "leaderboard-ml-100k.json").read_text() == first
    assert json.loads((workdir / "results" / "leaderboard-ml-100k-2.json").read_text())["models"] == ["Pop", "Pop"]
    assert run_recbole_maskgr.main([*argv, "--overwrite_results"]) == 0
    assert (workdir / "results" / "leaderboard-ml-100k.json").read_text() != first
    assert not (workdir / "results" / "leaderboard-ml-100k-3.md").exists()


def test_a_bad_results_dir_is_found_before_training(workdir, capsys):
    (workdir / "taken").write_text("a file")
    error = cli_error(capsys, ["--model=Pop,SASRec", "--results_dir=taken", *args(dict(SASREC, checkpoint_dir="saved"))])
    assert "--results_dir 'taken' cannot be used: it is a file, not a folder" in error
    assert checkpoints(workdir / "saved") == []


# ====================================================================== paths and Ctrl-C
def test_a_checkpoint_dir_that_is_a_file_is_one_line(workdir, capsys):
    (workdir / "saved").write_text("a file")
    error = cli_error(capsys, ["--model=SASRec", *args(dict(TINY, checkpoint_dir="saved"))])
    assert "checkpoint_dir 'saved' cannot be used: it is a file, not a folder" in error
    assert not (workdir / "log").exists()


def test_a_dataset_name_with_a_path_separator_is_one_line(workdir, capsys):
    error = cli_error(capsys, ["--model=Pop", "--dataset=data/ml-100k", *args(POP)])
    assert "--dataset 'data/ml-100k' must be a folder name, not a path" in error
    assert "--data_path=data --dataset=ml-100k" in error


def interrupt_at_epoch(monkeypatch, epoch: int):
    real = SafeCheckpointMixin._begin_epoch

    def begin(self, train_data, epoch_idx):
        if epoch_idx == epoch:
            raise KeyboardInterrupt
        return real(self, train_data, epoch_idx)

    monkeypatch.setattr(SafeCheckpointMixin, "_begin_epoch", begin)


def test_ctrl_c_is_one_line_with_the_resume_hint(workdir, capsys, monkeypatch):
    interrupt_at_epoch(monkeypatch, 1)
    error = cli_error(capsys, ["--model=SASRec", *args(dict(SASREC, checkpoint_dir="saved"))], status=130)
    last = [name for name in checkpoints(workdir / "saved") if name.endswith("-last.pth")]
    assert error.startswith("error: interrupted (Ctrl-C). Continue this run with --resume=")
    assert error.endswith(last[0])


def test_a_run_stopped_before_its_first_save_leaves_no_empty_checkpoint(workdir, capsys, monkeypatch):
    interrupt_at_epoch(monkeypatch, 0)
    error = cli_error(capsys, ["--model=SASRec", *args(dict(SASREC, checkpoint_dir="saved"))], status=130)
    assert "No checkpoint of this run was written yet" in error
    assert checkpoints(workdir / "saved") == []


# ====================================================================== several processes
def test_launch_settings_are_one_line_each(workdir, capsys):
    assert "--nproc must be a whole number >= 1" in cli_error(capsys, ["--model=Pop", "--nproc=0", *args(POP)])
    assert "--nproc must be a whole number >= 1" in cli_error(capsys, ["--model=Pop", "--nproc=-2", *args(POP)])
    assert "--port must be a TCP port number" in cli_error(capsys, ["--model=Pop", "--nproc=2", "--port=http",
                                                                   *args(POP)])


def test_a_busy_port_suggests_another(workdir, capsys):
    with socket.socket() as busy:
        busy.bind(("localhost", 0))
        busy.listen()
        port = busy.getsockname()[1]
        error = cli_error(capsys, ["--model=Pop", "--nproc=2", f"--port={port}", *args(POP)])
    assert f"--port={port} is already in use on localhost" in error and "Pass a free one, e.g. --port=" in error


def test_a_bad_file_under_nproc_is_found_by_the_launcher(workdir, capsys, monkeypatch):
    from recbole_maskgr import distributed

    def no_spawn(*_, **__):
        raise AssertionError("workers were started")

    monkeypatch.setattr(distributed, "launch", no_spawn)
    write_toy(workdir, inter=replace(INTER, 2, "u1\ti2"))
    toy = ["--dataset=toy", f"--data_path={workdir / 'data'}", "--load_col={'inter': ['user_id', 'item_id', "
           "'timestamp']}", *args(POP)]
    error = cli_error(capsys, ["--model=Pop", "--nproc=2", *toy])
    assert "toy.inter' has 1 malformed row(s): line 3" in error
    error = cli_error(capsys, ["--model=Pop", "--nproc=2", "--resume=nothing.pth", *args(POP)])
    assert "Checkpoint not found: 'nothing.pth'" in error


def test_a_leaderboard_under_nproc_accepts_settings_of_its_other_models(workdir, capsys, monkeypatch):
    from recbole_maskgr import distributed, launch

    launched = []
    monkeypatch.setattr(distributed, "launch", lambda target, **kwargs: launched.append(target))
    argv = ["--model=Pop,SASRec", "--nproc=2", f"--port={distributed.free_port()}", "--hidden_size=16", *args(POP)]
    assert run_recbole_maskgr.main(argv) == 0, capsys.readouterr().err
    assert launched == [launch.run_leaderboard]
    (workdir / "taken").write_text("a file")
    assert "--results_dir 'taken' cannot be used" in cli_error(capsys, [*argv, "--results_dir=taken"])
    assert launched == [launch.run_leaderboard]  # not launched again


def raise_config_error(settings):
    raise ConfigError("a check failed in a worker")


def test_a_worker_stopped_by_our_check_is_one_error(workdir):
    from recbole_maskgr import distributed

    with pytest.raises(distributed.WorkerError, match="^a check failed in a worker$"):
        distributed.launch(raise_config_error, 2, port=distributed.free_port())


# ====================================================================== noise and litter
def test_the_python_api_hides_exactly_recboles_noise(workdir):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quick_start.run("SASRec", "ml-100k", config_dict=dict(TINY, checkpoint_dir="saved"))
        warnings.warn("torch.cuda.amp.GradScaler(args...) is deprecated", FutureWarning)  # not RecBole's
    messages = [str(w.message) for w in caught]
    assert not [m for m in messages if "`torch.cuda.amp.GradScaler(args...)` is deprecated" in m]
    assert not [m for m in messages if "chained assignment" in m]
    assert "torch.cuda.amp.GradScaler(args...) is deprecated" in messages


def test_killed_runs_temporary_files_are_removed_at_the_next_start(workdir):
    from recbole_maskgr.files import _host

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    saved, cache = workdir / "saved", workdir / "saved" / "sid_cache"
    cache.mkdir(parents=True)
    litter = [saved / f".tmp-{_host()}-{dead.stdout.strip()}-abcd1234.pth",
              cache / f".tmp-{_host()}-{dead.stdout.strip()}-efgh5678.pth"]
    kept = [saved / f".tmp-{_host()}-{os.getpid()}-live1234.pth",  # a live writer's
            saved / ".tmp-notes.txt", saved / f".tmp-otherhost-{dead.stdout.strip()}-abcd1234.pth"]
    for path in litter + kept:
        path.write_bytes(b"partial")
    config = make_config("MaskGR", "ml-100k", config_dict={"checkpoint_dir": str(saved), "beam_width": 5})
    with pytest.raises(ConfigError, match="beam_width"):  # a run starts (and fails its checks) at once
        quick_start.build(config, log=False)
    assert [path.exists() for path in litter] == [False, False]
    assert all(path.exists() for path in kept)


def test_a_run_killed_before_its_first_save_leaves_a_placeholder_the_next_start_sweeps(workdir):
    """kill -9 runs no clean-up: the claimed name's placeholder names its process, so the next start
    removes it when that process is gone, and keeps a live run's claim and every real checkpoint."""
    from recbole_maskgr.trainer.checkpoint import CheckpointError, safe_load
    from recbole_maskgr.trainer.run_files import claim_checkpoint_name

    saved = workdir / "saved"
    killed = subprocess.run(
        [sys.executable, "-c", "import sys; from recbole_maskgr.trainer.run_files import claim_checkpoint_name; "
                               "print(claim_checkpoint_name(sys.argv[1]))", str(saved / "SASRec-x.pth")],
        capture_output=True, text=True, check=True).stdout.strip()  # the claimer exits without saving
    live = claim_checkpoint_name(str(saved / "SASRec-y.pth"))  # this process: alive
    real = saved / "SASRec-z.pth"
    real.write_bytes(b"PK\x03\x04 a real checkpoint's bytes")
    with pytest.raises(CheckpointError, match="is empty: the run that claimed this name stopped before"):
        safe_load(killed)
    config = make_config("MaskGR", "ml-100k", config_dict={"checkpoint_dir": str(saved), "beam_width": 5})
    with pytest.raises(ConfigError, match="beam_width"):  # a run starts (and fails its checks) at once
        quick_start.build(config, log=False)
    assert not os.path.exists(killed) and os.path.exists(live) and real.exists()


def test_runs_in_the_same_second_get_their_own_log_and_tensorboard_folder(workdir):
    from recbole_maskgr.run_log import claim_log_stamp, log_path, tensorboard_dir

    config = make_config("Pop", "ml-100k", config_dict=POP)
    stamps = [claim_log_stamp(config, "Dec-02-2026_10-00-00") for _ in range(2)]
    assert stamps == ["Dec-02-2026_10-00-00", "Dec-02-2026_10-00-00-2"]
    paths = [log_path(config, stamp) for stamp in stamps]
    assert all(os.path.isfile(path) for path in paths)
    assert len({tensorboard_dir(path) for path in paths}) == 2
    os.makedirs(tensorboard_dir(log_path(config, "Dec-02-2026_10-00-00-3")))  # e.g. left by a deleted log
    assert claim_log_stamp(config, "Dec-02-2026_10-00-00") == "Dec-02-2026_10-00-00-4"


# ====================================================================== benchmarks/leaderboard.py
def bench_leaderboard(workdir, *argv) -> subprocess.CompletedProcess:
    import recbole

    data = os.path.join(os.path.dirname(recbole.__file__), "dataset_example")
    tiny = [f"--set=all:{key}={json.dumps(value)}" for key, value in TINY.items() if key != "epochs"]
    command = [sys.executable, str(REPO / "benchmarks" / "leaderboard.py"), "--dataset=ml-100k",
               f"--data-path={data}", "--budget-minutes=0.05", *tiny, *argv]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600)


def test_the_benchmark_leaderboard_keeps_finished_rows_and_earlier_tables(workdir):
    out = workdir / "results" / "board"
    done = bench_leaderboard(workdir, "--models=Pop,SASRec", f"--out={out}", "--set=SASRec:hidden_size=\"wide\"")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "SASRec failed" in done.stderr and "FutureWarning" not in done.stderr
    table = json.loads((workdir / "results" / "board.json").read_text())
    assert [row["model"] for row in table["rows"]] == ["Pop"]
    assert "1 of 2 models finished; failed: SASRec" in (workdir / "results" / "board.md").read_text()
    first = (workdir / "results" / "board.md").read_text()
    again = bench_leaderboard(workdir, "--models=Pop", f"--out={out}", "--reuse")
    assert again.returncode == 0 and (workdir / "results" / "board.md").read_text() == first
    assert "1 of 1 models finished" in (workdir / "results" / "board-2.md").read_text()


@pytest.mark.parametrize("argv, message", [
    (["--models=,"], "error: --model is empty"),
    (["--models=Pop", "--out=board"], "error: --out 'board.md' cannot be written: it is a folder"),
])
def test_the_benchmark_leaderboard_refuses_bad_arguments_in_one_line(workdir, argv, message):
    (workdir / "board.md").mkdir()
    done = bench_leaderboard(workdir, *argv)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [done.stderr.strip()], done.stderr
    assert done.stderr.startswith(message) and not (workdir / "saved").exists()
