"""kgrec-recommend end to end on a run trained on a slice of ml-100k: stdout holds only results."""

import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from test_infer import train_run


@pytest.fixture(scope="module")
def run_dir(ml100k_bundle, tmp_path_factory):
    return train_run(ml100k_bundle, tmp_path_factory)


def recommend(run_dir, *options):
    return subprocess.run([sys.executable, "-m", "kgrec.cli.recommend", str(run_dir), *options],
                          capture_output=True, text=True, timeout=300)


def test_json_for_a_known_user(run_dir):
    result = recommend(run_dir, "--user", "1", "--k", "4", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)  # nothing but the JSON list on stdout
    assert len(rows) == 4 and all(set(row) == {"item_id", "title", "score", "explanation"} for row in rows)
    assert [row["score"] for row in rows] == sorted((row["score"] for row in rows), reverse=True)
    assert all(isinstance(row["item_id"], str) and row["explanation"] for row in rows)
    assert "loaded KGRec" in result.stderr


def test_added_items_and_candidates_from_a_file(run_dir, tmp_path):
    items = tmp_path / "new.tsv"
    items.write_text("item_id\ttitle\ttext\nnew-space\tGalactic Rebellion\tA space opera with starships.\n"
                     "new-romcom\tLove in Manhattan\tA romantic comedy in New York.\n")
    candidates = tmp_path / "candidates.txt"
    candidates.write_text("new-space\nnew-romcom\n")
    result = recommend(run_dir, "--items", "50,172,181", "--add-items", str(items), "--candidates", str(candidates),
                       "--k", "10", "--json")
    assert result.returncode == 0, result.stderr
    assert [row["item_id"] for row in json.loads(result.stdout)] == ["new-space", "new-romcom"]


def test_text_query_prints_a_table(run_dir):
    result = recommend(run_dir, "--text", "animated movie for children", "--k", "3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["rank", "item_id", "title"] and len(lines) == 4


def test_all_users_to_parquet(run_dir, tmp_path):
    out = tmp_path / "recs.parquet"
    result = recommend(run_dir, "--all-users", "--k", "3", "--out", str(out))
    assert result.returncode == 0, result.stderr
    table = pq.read_table(out).to_pydict()
    assert list(table) == ["user_id", "item_id", "rank", "score"] and set(table["rank"]) == {1, 2, 3}
    assert result.stdout == ""


@pytest.mark.parametrize("options, message", [
    (["--user", "no-such-user"], "kgrec-recommend: error: unknown user 'no-such-user'"),
    (["--user", "1", "--text", "x"], "--user cannot be combined"),
    (["--all-users"], "--all-users takes --out FILE"),
])
def test_errors_are_one_line_without_traceback(run_dir, options, message):
    result = recommend(run_dir, *options)
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
