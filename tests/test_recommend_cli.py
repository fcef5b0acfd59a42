"""kgrec-recommend end to end on a run trained on a slice of ml-100k: stdout holds only results.

A fresh interpreter checks what only a real process shows (stdout, exit status, no traceback); the other
tests call the CLI's main in this process, which saves the start-up (imports) of one per call."""

import csv
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from omegaconf import OmegaConf

from kgrec.cli.recommend import main
from kgrec.infer.recommender import Recommender
from test_infer import train_run


FILM_GENRE = "http://rdf.freebase.com/ns/film.film.genre"


@pytest.fixture(scope="module")
def run_dir(ml100k_bundle, tmp_path_factory):
    # Freebase genres as KG categories, for --category (the Python API tests' run has none).
    return train_run(ml100k_bundle, tmp_path_factory, f"+data.kg.category_predicates=[{FILM_GENRE}]")


def recommend(run_dir, *options):
    return subprocess.run([sys.executable, "-m", "kgrec.cli.recommend", str(run_dir), *options],
                          capture_output=True, text=True, timeout=300)


def recommend_here(capsys, run_dir, *options):
    """`recommend` in this process."""
    try:
        main([str(run_dir), *options])
        code = 0
    except SystemExit as exit:
        code = exit.code
    out = capsys.readouterr()
    return subprocess.CompletedProcess(options, code, out.out, out.err)


def test_json_for_a_known_user(run_dir):
    result = recommend(run_dir, "--user", "1", "--k", "4", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)  # nothing but the JSON list on stdout
    assert len(rows) == 4 and all(set(row) == {"item_id", "title", "score", "explanation"} for row in rows)
    best_first = Recommender.load(run_dir).recommend("1", k=4)  # the model's list order (tail slots)
    assert [(row["item_id"], row["score"]) for row in rows] == [(r.item_id, pytest.approx(r.score)) for r in best_first]
    assert all(isinstance(row["item_id"], str) and row["explanation"] for row in rows)
    assert "loaded KGRec" in result.stderr


def test_added_items_and_candidates_from_a_file(capsys, run_dir, tmp_path):
    items = tmp_path / "new.tsv"
    items.write_text("item_id\ttitle\ttext\nnew-space\tGalactic Rebellion\tA space opera with starships.\n"
                     "new-romcom\tLove in Manhattan\tA romantic comedy in New York.\n")
    candidates = tmp_path / "candidates.txt"
    candidates.write_text("new-space\nnew-romcom\n")
    result = recommend_here(capsys, run_dir, "--items", "50,172,181", "--add-items", str(items),
                            "--candidates", str(candidates), "--k", "10", "--json")
    assert result.returncode == 0, result.stderr
    assert [row["item_id"] for row in json.loads(result.stdout)] == ["new-space", "new-romcom"]


def test_text_query_prints_a_table(capsys, run_dir):
    result = recommend_here(capsys, run_dir, "--text", "animated movie for children", "--k", "3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["rank", "item_id", "title"] and len(lines) == 4


def test_all_users_to_parquet(capsys, run_dir, tmp_path):
    out = tmp_path / "recs.parquet"
    result = recommend_here(capsys, run_dir, "--all-users", "--k", "3", "--out", str(out))
    assert result.returncode == 0, result.stderr
    table = pq.read_table(out).to_pydict()
    assert list(table) == ["user_id", "item_id", "rank", "score"] and set(table["rank"]) == {1, 2, 3}
    assert result.stdout == ""


def test_added_items_with_triples_and_no_explanations(capsys, run_dir, tmp_path):
    items = tmp_path / "sequel.tsv"
    items.write_text("item_id\ttitle\ttext\tentity\n"
                     "new-sequel\tStar Wars: The Sequel\tMore space battles.\thttp://x/sequel\n")
    kg = tmp_path / "sequel.nt"  # Star Wars (m.016fyc) has this sequel
    kg.write_text("<http://rdf.freebase.com/ns/m.016fyc> <http://rdf.freebase.com/ns/film.film.sequel> "
                  "<http://x/sequel> .\n")
    result = recommend_here(capsys, run_dir, "--items", "50", "--add-items", str(items), "--add-kg", str(kg),
                            "--candidates", "new-sequel,172", "--k", "5", "--no-explain", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert sorted(row["item_id"] for row in rows) == ["172", "new-sequel"]
    assert all(row["explanation"] == "" for row in rows)
    assert "added 1 items" in result.stderr and "(1 KG edges)" in result.stderr


def test_category_filter_returns_only_items_of_that_genre(capsys, run_dir):
    bundle = Path(OmegaConf.load(run_dir / "config.yaml").data.path)
    films = defaultdict(set)  # Freebase genre -> its films, read from the KG file itself
    for line in (bundle / "kg.nt").read_text(encoding="utf-8").splitlines():
        subject, predicate, obj = (term.strip("<>") for term in line.split(" ", 3)[:3])
        if predicate == FILM_GENRE:
            films[obj].add(subject)
        elif predicate == "http://rdf.freebase.com/ns/film.film_genre.films_in_this_genre":
            films[subject].add(obj)
    with open(bundle / "items.tsv", encoding="utf-8") as file:
        entity = {row["item_id"]: row["entity"] for row in csv.DictReader(file, delimiter="\t")}
    # Star Wars's least common genre; unlabelled in this KG, so named by its id (any case), e.g. M.06N90.
    genre = min((g for g in films if entity["50"] in films[g]), key=lambda g: len(films[g]))
    name = genre.rsplit("/", 1)[-1].upper()
    result = recommend_here(capsys, run_dir, "--items", "50", "--category", name, "--json")
    assert result.returncode == 0, result.stderr
    of_genre = {item for item, iri in entity.items() if iri in films[genre]} - {"50"}
    returned = [row["item_id"] for row in json.loads(result.stdout)]
    assert len(returned) == min(10, len(of_genre)) > 0 and set(returned) <= of_genre
    result = recommend_here(capsys, run_dir, "--user", "1", "--category", "no-such-genre")
    assert result.returncode == 2 and result.stdout == ""
    assert "error: unknown category 'no-such-genre' (hint: categories include" in result.stderr


def test_empty_results_are_an_empty_json_list(capsys, run_dir):
    result = recommend_here(capsys, run_dir, "--items", "50,172", "--candidates", "50,172", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


@pytest.mark.parametrize("options, message", [
    (["--user", "no-such-user"], "kgrec-recommend: error: unknown user 'no-such-user'"),
    (["--user", "1", "--k", "0"], "--k must be at least 1, got 0"),
    (["--user", "1", "--text", "x"], "--user cannot be combined"),
    (["--user", "1", "--add-kg", "x.nt"], "--add-kg needs --add-items"),
    (["--all-users"], "--all-users takes --out FILE"),
    ([], "give --user ID"),
])
def test_errors_are_one_line_without_traceback(run_dir, options, message):
    result = recommend(run_dir, *options)
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
