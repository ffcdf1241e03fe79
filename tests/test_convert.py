"""`python -m recbole_maskgr.convert amazon`: both Amazon releases, with their traps, to atomic files
that load and train; and the README's raw-to-leaderboard commands, run as written."""

import gzip
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import run_recbole_maskgr
from recbole_maskgr.convert.__main__ import main as convert_main

ROOT = Path(__file__).resolve().parents[1]
T0 = 1_388_534_400  # 2014-01-01, a whole day as 2014 review times are
DAY = 86_400
TIE_USER, TIE_FIRST, TIE_SECOND = 0, 7, 6  # same day; the file has item 7 first, against id order
TITLES = {
    1: 'Say "hi"\tto it\'s "Wally"',  # a tab inside, both kinds of quote
    2: '"Wally" the Flying Pig',  # starts with a quote: RecBole's pandas would take it for quoting
    4: "Crème brûlée lip balm",
}
NO_META_ITEM = 9
# Tiny model settings the test adds to the README's leaderboard command (all else as written).
TINY_ARGS = ["--epochs=1", "--show_progress=False", "--state=WARNING", "--hidden_size=16", "--inner_size=32",
             "--n_layers=1", "--n_heads=1", "--train_batch_size=64", "--sid_levels=2", "--sid_codebook_size=4",
             "--sid_kmeans_iters=5", "--beam_width=10", "--warmup_steps=2", "--checkpoint_dir=saved"]


def shopping() -> list:
    """(user, item, unix seconds) in file order: 12 users x 6 of 10 items (every item >= 5 users),
    and TIE_USER's last two reviews on one day (items 7 then 6 in the file).

    The file is ordered by item, descending, not by time: ties in file order are not in id order.
    """
    rows = [(u, (u + j) % 10, T0 + (u + j) * DAY) for u in range(12) for j in range(6)]
    tie_day = T0 + 40 * DAY
    rows += [(TIE_USER, TIE_FIRST, tie_day), (TIE_USER, TIE_SECOND, tie_day)]  # user 0 has items 0-5
    return sorted(rows, key=lambda row: -row[1])  # stable: the tie keeps item 7 before item 6


KEPT = f"kept: 12 users, 10 items, {len(shopping())} interactions"


def expected_sequences(rows) -> dict:
    """Each user's items by time, same-time reviews in file order."""
    by_user = {}
    for user, item, time in sorted(rows, key=lambda row: (row[0], row[2])):
        by_user.setdefault(user, []).append(item)
    return by_user


def review_2014(user, item, time) -> str:
    return json.dumps({"reviewerID": f"U{user:02d}", "asin": f"I{item:02d}", "reviewerName": "A. Buyer",
                       "helpful": [0, 0], "reviewText": "fine\tproduct", "overall": float(1 + item % 5),
                       "summary": "ok", "unixReviewTime": time, "reviewTime": "01 1, 2014"})


def meta_2014(item) -> str:
    """A Python dict literal (single quotes), as the 2014 metadata files have."""
    record = {"asin": f"I{item:02d}", "title": TITLES.get(item, f"Item {item}"), "price": 1.5 * item,
              "salesRank": {"Beauty": 100 + item}, "related": {"also_bought": ["I01", "I02"]},
              "brand": "Acme", "categories": [["Beauty", "Skin Care"], ["Beauty", "Face"]]}
    return repr(record)


def review_2023(user, item, time) -> str:
    return json.dumps({"rating": float(1 + item % 5), "title": "ok", "text": "fine", "images": [],
                       "asin": f"B{item:02d}", "parent_asin": f"P{item:02d}", "user_id": f"AG{user:02d}",
                       "timestamp": time * 1000, "helpful_vote": 0, "verified_purchase": True})


def meta_2023(item) -> str:
    return json.dumps({"main_category": "All Beauty", "title": TITLES.get(item, f"Item {item}"),
                       "average_rating": 4.5, "rating_number": 7, "features": [], "description": [],
                       "price": None if item % 2 else 2.5 * item, "images": [], "videos": [], "store": "Acme",
                       "categories": ["Hair Care"] if item == 3 else [], "details": {}, "parent_asin": f"P{item:02d}",
                       "bought_together": None})


def raw_lines(release: str):
    """(reviews, metadata) lines with the traps: a duplicate line, an item without metadata, a
    metadata line of an item never reviewed; 2023 adds a user below 5-core."""
    rows = shopping()
    review, meta = (review_2014, meta_2014) if release == "2014" else (review_2023, meta_2023)
    reviews = [review(*row) for row in rows]
    reviews.insert(5, reviews[4])  # an exact duplicate line
    if release == "2023":
        reviews += [review(99, 1, T0), review(99, 2, T0 + DAY)]  # 2 reviews: below --kcore 5
    metas = [meta(item) for item in [*range(10), 42] if item != NO_META_ITEM]
    return reviews, metas


def write(path: Path, lines, gzipped: bool) -> Path:
    data = ("\n".join(lines) + "\n").encode("utf-8")
    path.write_bytes(gzip.compress(data) if gzipped else data)
    return path


def write_raw(folder: Path, release: str, reviews_name: str, meta_name: str, gzipped=True):
    reviews, metas = raw_lines(release)
    return write(folder / reviews_name, reviews, gzipped), write(folder / meta_name, metas, gzipped)


def read_atomic(path: Path) -> tuple[list, list]:
    header, *rows = path.read_text(encoding="utf-8").rstrip("\n").split("\n")
    return header.split("\t"), [row.split("\t") for row in rows]


def readme_blocks() -> list:
    """The raw-to-leaderboard command blocks of README.md: [(convert line, run line)]."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"<!-- raw-to-leaderboard -->\n```bash\n(.*?)```", text, flags=re.S)
    return [tuple(block.strip().split("\n")) for block in blocks]


@pytest.mark.parametrize("release", ["2014", "2023"])
def test_traps_are_handled(tmp_path, release, capsys):
    reviews, meta = write_raw(tmp_path, release, "reviews.json.gz", "meta.json.gz")
    out = tmp_path / "data" / "toy"
    kcore = ["--kcore", "5"] if release == "2023" else []
    assert convert_main(["amazon", "--reviews", str(reviews), "--meta", str(meta), "--out", str(out), *kcore]) == 0
    report = capsys.readouterr().out
    read = len(shopping()) + (1 if release == "2014" else 3)  # the duplicate; 2023: the sparse user
    assert f"Amazon {release} reviews read: {read}" in report
    assert "1 exact duplicate" in report and KEPT in report
    assert "items without metadata (empty title): 1;" in report
    header, rows = read_atomic(out / "toy.inter")
    assert header == ["user_id:token", "item_id:token", "timestamp:float", "rating:float"]
    sequences, last_time = {}, {}
    for user, item, time, _ in rows:
        assert float(time) > last_time.get(user, -1)  # distinct, increasing: any sort keeps this order
        last_time[user] = float(time)
        sequences.setdefault(int(user[-2:]), []).append(int(item[-2:]))
    assert sequences == expected_sequences(shopping())
    assert sequences[TIE_USER][-2:] == [TIE_FIRST, TIE_SECOND]
    item_header, items = read_atomic(out / "toy.item")
    assert item_header[:2] == ["item_id:token", "title:token_seq"] and "brand:token" in item_header
    titles = {row[0][-2:]: row[1] for row in items}
    categories = {row[0][-2:]: row[item_header.index("categories:token_seq")] for row in items}
    assert categories["03"] == ("Hair Care" if release == "2023" else "Beauty, Skin Care, Face")
    assert titles["01"] == 'Say "hi" to it\'s "Wally"' and titles["02"] == TITLES[2] and titles["04"] == TITLES[4]
    assert titles[f"{NO_META_ITEM:02d}"] == "" and len(items) == 10  # item 42 was never reviewed


def test_gzip_is_told_by_content_not_name(tmp_path):
    plain = write_raw(tmp_path, "2014", "r.json.gz", "m.json.gz", gzipped=False)  # plain text named .gz
    packed = write_raw(tmp_path, "2014", "r2.json", "m2.json", gzipped=True)  # gzip named .json
    for name, (reviews, meta) in {"a": plain, "b": packed}.items():
        argv = ["amazon", "--reviews", str(reviews), "--meta", str(meta), "--out", str(tmp_path / name)]
        assert convert_main(argv) == 0
    for suffix in ("inter", "item"):
        assert (tmp_path / "a" / f"a.{suffix}").read_bytes() == (tmp_path / "b" / f"b.{suffix}").read_bytes()


def run_convert(argv, capsys) -> tuple[int, str]:
    code = convert_main(argv)
    return code, capsys.readouterr().err


def test_malformed_lines_and_overwrite(workdir, capsys):
    tmp_path = workdir
    reviews, meta = write_raw(tmp_path, "2014", "r.json", "m.json", gzipped=False)
    out = str(tmp_path / "data" / "toy")
    args = ["amazon", "--reviews", str(reviews), "--meta", str(meta), "--out", out]
    lines = reviews.read_text().split("\n")
    broken = write(tmp_path / "broken.json", lines[:3] + [lines[3][:40]] + lines[4:], gzipped=False)
    code, err = run_convert(["amazon", "--reviews", str(broken), "--out", out], capsys)
    assert code == 2 and err.startswith("error: ") and f"'{broken}' line 4 " in err and err.count("\n") == 1
    assert not (tmp_path / "data" / "toy").exists()  # nothing written
    evil = write(tmp_path / "evil.json", ["__import__('os').system('touch pwned')"], gzipped=False)
    code, err = run_convert(["amazon", "--reviews", str(reviews), "--meta", str(evil), "--out", out], capsys)
    assert code == 2 and "is neither JSON nor a Python dict literal" in err and not Path("pwned").exists()
    assert run_convert(args, capsys)[0] == 0
    before = (tmp_path / "data" / "toy" / "toy.inter").read_bytes()
    window = ["--max_time", str(T0 + 12 * DAY)]
    code, err = run_convert(args + window, capsys)
    assert code == 2 and "already exists; pass --overwrite" in err
    assert run_convert(args + window + ["--overwrite"], capsys)[0] == 0
    assert (tmp_path / "data" / "toy" / "toy.inter").read_bytes() != before
    assert sorted(p.name for p in (tmp_path / "data" / "toy").iterdir()) == ["toy.inter", "toy.item"]  # no temp files


def test_time_window_and_iterative_kcore(tmp_path, capsys):
    reviews, _ = write_raw(tmp_path, "2014", "r.json", "m.json", gzipped=False)
    out = tmp_path / "w"
    argv = ["amazon", "--reviews", str(reviews), "--out", str(out), "--min_time", "2014-01-03",
            "--max_time", str(T0 + 9 * DAY), "--kcore", "3"]
    assert convert_main(argv) == 0
    assert not (out / "w.item").exists()
    _, rows = read_atomic(out / "w.inter")
    times = [float(row[2]) for row in rows]
    assert min(times) >= T0 + 2 * DAY and max(times) <= T0 + 9 * DAY
    users, items = {}, {}
    for user, item, _, _ in rows:
        users[user], items[item] = users.get(user, 0) + 1, items.get(item, 0) + 1
    assert min(users.values()) >= 3 and min(items.values()) >= 3
    assert "by --kcore" in capsys.readouterr().out


@pytest.mark.parametrize("block", readme_blocks(), ids=["2014", "2023"])
def test_readme_raw_to_leaderboard(workdir, block, sid_cache):
    """The README's two lines, as written: the converter as a module, then the leaderboard."""
    convert_line, run_line = block
    argv = shlex.split(convert_line)
    files = {argv[argv.index(flag) + 1] for flag in ("--reviews", "--meta")}
    release = "2023" if any(name.endswith(".jsonl.gz") for name in files) else "2014"
    write_raw(workdir, release, argv[argv.index("--reviews") + 1], argv[argv.index("--meta") + 1])
    assert argv[:3] == ["python", "-m", "recbole_maskgr.convert"]
    done = subprocess.run([sys.executable, *argv[1:]], cwd=workdir, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert KEPT in done.stdout
    run_argv = shlex.split(run_line)
    assert run_argv[:2] == ["python", "run_recbole_maskgr.py"]
    assert run_recbole_maskgr.main(run_argv[2:] + TINY_ARGS + [f"--sid_cache_dir={sid_cache}"]) == 0
    dataset = next(a.split("=", 1)[1] for a in run_argv if a.startswith("--dataset="))
    board = json.loads((workdir / "results" / f"leaderboard-{dataset}.json").read_text())
    assert [row["model"] for row in board["rows"]] == ["MaskGR", "SASRec", "Pop"]
    data_path = next(a.split("=", 1)[1] for a in run_argv if a.startswith("--data_path="))
    user = "U00" if release == "2014" else "AG00"
    assert recbole_sequence(dataset, str(workdir / data_path), user) == expected_sequences(shopping())[TIE_USER]


def recbole_sequence(dataset: str, data_path: str, user: str) -> list:
    """The user's test history and target as RecBole builds them (item numbers)."""
    from recbole_maskgr import quick_start
    from recbole_maskgr.config import make_config

    config = make_config("SASRec", dataset, config_dict={"data_path": data_path, "state": "WARNING"})
    built = quick_start.create_dataset(config)
    test = built.build()[2].inter_feat
    row = int((test["user_id"] == built.token2id("user_id", user)).nonzero()[0])
    history = test["item_id_list"][row][: test["item_length"][row]].tolist()
    tokens = [built.id2token("item_id", i) for i in [*history, int(test["item_id"][row])]]
    return [int(token[-2:]) for token in tokens]


@pytest.mark.parametrize("reviews, meta, message", [
    (['[1, 2]'], None, "line 1 is a list, not an object {...}."),
    ([review_2014(0, 1, T0), '{"reviewerID": "U", "asin": "I", "overall": 5}'], None,
     "line 2 has no 'unixReviewTime' field; every Amazon 2014 review needs"),
    (['{"reviewerID": "U", "asin": "I", "unixReviewTime": 1, "overall": "five"}'], None,
     "line 1: 'overall' is 'five', not a number."),
    ([meta_2014(1)], None, "(Did you swap --reviews and --meta?)"),
    ([review_2014(0, 1, T0)], [meta_2023(1)], "it looks like Amazon 2023 metadata"),
    ([review_2014(0, 1, T0)], [meta_2014(2), "{'title': 'x'}"], "line 2 has no 'asin' field"),
])
def test_bad_input_is_one_error_line(tmp_path, capsys, reviews, meta, message):
    reviews_file = write(tmp_path / "r.json", reviews, gzipped=False)
    argv = ["amazon", "--reviews", str(reviews_file), "--out", str(tmp_path / "o")]
    if meta:
        argv += ["--meta", str(write(tmp_path / "m.json", meta, gzipped=False))]
    code, err = run_convert(argv, capsys)
    assert code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_missing_amazon_dataset_points_to_the_converter(workdir, capsys):
    assert run_recbole_maskgr.main(["--model=SASRec", "--dataset=amazon-toys-games", "--data_path=nowhere"]) == 2
    assert "python -m recbole_maskgr.convert amazon --reviews FILE" in capsys.readouterr().err
