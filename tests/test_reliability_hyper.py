"""run_hyper.py inputs (issue 22, items 1 and 9): a search-space file is data, never code, and every
malformed input is one `error:` line naming the file and line, exit 2, before any trial trains."""

import pytest

import run_hyper
from recbole_maskgr.config import ConfigError
from recbole_maskgr.hyper_space import read_space

POP = ["--model=Pop", "--epochs=1", "--state=WARNING", "--show_progress=False", "--checkpoint_dir=saved"]


def hyper_error(argv, capsys) -> str:
    """The one stderr line of a refused run_hyper.py call (and nothing was trained)."""
    assert run_hyper.main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "running parameters" not in captured.out and "Traceback" not in captured.err
    return lines[0]


def test_a_search_space_file_cannot_run_code(workdir, capsys):
    params = workdir / "evil.test"
    params.write_text("learning_rate choice [0.01]\n"
                      "embedding_size choice [__import__('pathlib').Path('pwned').touch()]\n")
    line = hyper_error([*POP, f"--params_file={params}"], capsys)
    assert f"'{params}' line 2" in line and "literals" in line
    assert not (workdir / "pwned").exists()


@pytest.mark.parametrize("content, expected", [
    ("", "holds no search space"),
    ("# only a comment\n\n", "holds no search space"),
    ("learning_rate\n", "line 1: 'learning_rate' is not `name type values`"),
    ("learning_rate choice\n", "line 1: 'learning_rate choice' is not `name type values`"),
    ("learning_rate choise [0.1]\n", "line 1: unknown type 'choise'"),
    ("learning_rate uniform 0.1\n", "line 1: uniform takes 2 numbers `low,high`"),
    ("learning_rate uniform 0.5,0.1\n", "line 1: uniform needs low < high"),
    ("learning_rate quniform 1,8\n", "line 1: quniform takes 3 numbers"),
    ("learning_rate loguniform a,b\n", "line 1: loguniform takes 2 numbers"),
    ("learning_rate choice []\n", "line 1: choice values must be a non-empty list"),
    ("learning_rate choice [0.1,0.2]\n\nlearning_rate choice [0.3]\n", "line 3: 'learning_rate' is already searched on line 1"),
])
def test_malformed_search_space_lines_name_file_and_line(workdir, capsys, content, expected):
    params = workdir / "space.test"
    params.write_text(content)
    line = hyper_error([*POP, f"--params_file={params}"], capsys)
    assert f"'{params}'" in line and expected in line


def test_a_non_utf8_search_space_names_the_line(workdir, capsys):
    params = workdir / "latin1.test"
    params.write_bytes(b"learning_rate choice [0.1]\nname choice ['caf\xe9']\n")
    line = hyper_error([*POP, f"--params_file={params}"], capsys)
    assert f"'{params}' line 2 is not valid UTF-8" in line


def test_unknown_settings_and_wrong_types_are_refused_before_the_first_trial(workdir, capsys):
    params = workdir / "space.test"
    params.write_text("learning_rate choice [0.1]\nlerning_rate choice [0.1]\n")
    line = hyper_error([*POP, f"--params_file={params}"], capsys)
    assert "line 2: Unknown setting 'lerning_rate'" in line and "learning_rate" in line
    params.write_text("stopping_step choice [1,'ten']\n")
    line = hyper_error([*POP, f"--params_file={params}"], capsys)
    assert "line 1: Setting 'stopping_step'" in line and "'ten'" in line


def test_exhaustive_search_refuses_continuous_ranges(workdir, capsys):
    params = workdir / "space.test"
    params.write_text("learning_rate uniform 0.001,0.01\n")
    line = hyper_error([*POP, f"--params_file={params}"], capsys)
    assert "line 1: --algo=exhaustive" in line and "--algo=random" in line


def test_output_paths_are_checked_before_the_search(workdir, capsys):
    params = workdir / "space.test"
    params.write_text("learning_rate choice [0.1]\n")
    (workdir / "folder").mkdir()
    line = hyper_error([*POP, f"--params_file={params}", "--output_file=folder"], capsys)
    assert "--output_file 'folder' cannot be written: it is a folder" in line
    (workdir / "taken").write_text("x")
    line = hyper_error([*POP, f"--params_file={params}", "--results_dir=taken"], capsys)
    assert "--results_dir 'taken' cannot be used: it is a file" in line


def test_literal_values_keep_their_types(tmp_path):
    params = tmp_path / "space.test"
    params.write_text("\ufeff# comment\nhistory_tokens choice ['items', 'codes']\ntopk choice [[5, 10], [10]]\n"
                      "dropout_prob quniform 0.1,0.5,0.1\nlearning_rate loguniform [-8,-4]\n")
    space = read_space(str(params))
    assert space["history_tokens"].values == ("items", "codes")
    assert space["topk"].values == ([5, 10], [10])
    assert space["dropout_prob"].values == (0.1, 0.5, 0.1) and space["learning_rate"].values == (-8.0, -4.0)
    assert [setting.line for setting in space.values()] == [2, 3, 4, 5]


def test_a_folder_as_search_space_is_not_found(tmp_path):
    with pytest.raises(ConfigError, match="Parameter file not found"):
        read_space(str(tmp_path))
