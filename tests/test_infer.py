"""The inference API on a kgrec run trained on a slice of ml-100k: known users, new users from items or
text, added items (text + KG), candidates, batch export, explanations and errors."""

import csv

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import kgrec.cli.train  # noqa: F401  (registers the config resolvers)
from kgrec.errors import DataError, KgrecError
from kgrec.evaluate.metrics import evaluate
from kgrec.infer.recommender import Recommender
from kgrec.train.experiment import run_experiment

NUM_ITEMS = 300  # items 1..300 keep the Star Wars trilogy (50, 172, 181)
SCI_FI = ("Sci-Fi", "Action", "Adventure")


def slice_bundle(source, target):
    """The first NUM_ITEMS items of a bundle, with their interactions and KG triples (written to tmp only)."""
    target.mkdir()
    with open(source / "items.tsv", encoding="utf-8") as file:
        rows = list(csv.reader(file, delimiter="\t"))
    kept = rows[: NUM_ITEMS + 1]
    (target / "items.tsv").write_text("".join("\t".join(row) + "\n" for row in kept), encoding="utf-8")
    ids = {row[0] for row in kept[1:]}
    dropped = {f"<{row[1]}>" for row in rows[NUM_ITEMS + 1:] if row[1]}
    users = set()
    for name in ("train.tsv", "valid.tsv", "test.tsv", "test_cold.tsv"):  # test_cold may only name known users
        lines = (source / name).read_text(encoding="utf-8").splitlines(keepends=True)
        kept_lines = [l for l in lines[1:] if l.split("\t")[1] in ids and (name != "test_cold.tsv" or l.split("\t")[0] in users)]
        users |= {l.split("\t")[0] for l in kept_lines}
        (target / name).write_text(lines[0] + "".join(kept_lines))
    cold = (source / "cold_items.txt").read_text().split()
    (target / "cold_items.txt").write_text("".join(f"{item}\n" for item in cold if item in ids))
    with open(source / "kg.nt", encoding="utf-8") as file, open(target / "kg.nt", "w", encoding="utf-8") as out:
        out.writelines(line for line in file if not set(line.split(" ", 3)[::2]) & dropped)
    return target


def train_run(bundle, tmp_path_factory, *overrides):
    """A real kgrec-train run directory (a few epochs) on the slice."""
    sliced = slice_bundle(bundle, tmp_path_factory.mktemp("bundle") / "ml-100k-slice")
    run_dir = tmp_path_factory.mktemp("run")
    with initialize_config_dir(config_dir=str(kgrec.cli.train.CONFIG_DIR), version_base="1.3"):
        config = compose("config", overrides=[
            "experiment=ml100k", f"data.path={sliced}", f"cache_dir={tmp_path_factory.mktemp('cache')}",
            "model.train.epochs=6", "model.train.patience=2", *overrides])
    torch.set_num_threads(1)
    run_experiment(OmegaConf.to_container(config, resolve=True), run_dir)
    return run_dir


@pytest.fixture(scope="module")
def run_dir(ml100k_bundle, tmp_path_factory):
    return train_run(ml100k_bundle, tmp_path_factory)


@pytest.fixture(scope="module")
def recommender(run_dir):
    return Recommender.load(run_dir)


def genres(recommender, item_id):
    return recommender.data.item_texts[recommender.item_index[item_id]]


def test_known_user_gets_unseen_items_with_explanations(recommender):
    data = recommender.data
    user = data.user_ids[0]
    seen = {data.item_ids[i] for split in ("train", "valid") for i in data.splits[split].items[data.splits[split].users == 0]}
    results = recommender.recommend(user, k=10)
    assert len(results) == 10 and not {r.item_id for r in results} & seen
    # The evaluator's list for this user: same masking, calibrated knobs and the model's lists (tail slots).
    evaluated = evaluate(recommender.model.score, data, "test", ks=(10,), top_lists=recommender.model.top_lists)
    row = evaluated.users.tolist().index(0)
    assert [r.item_id for r in results] == [data.item_ids[i] for i in evaluated.top_items[row][:10]]
    titles = set(data.item_titles) | {label for label in data.kg.labels if label}
    for r in results:
        assert r.title == data.item_titles[data.item_ids.index(r.item_id)]
        assert "which you liked" in r.explanation or "users who also liked" in r.explanation
        assert any(title in r.explanation for title in titles), r.explanation  # names a real, labelled entity
    # The same scores as the model's own scoring path (with the calibrated popularity knob).
    with torch.no_grad():
        own = recommender.model.score(torch.tensor([0]))[0]
    assert results[0].score == pytest.approx(float(own[recommender.item_index[results[0].item_id]]), abs=1e-4)


def test_star_wars_session_leans_sci_fi_and_excludes_the_trilogy(recommender):
    results = recommender.recommend(items=["50", "172", "181"], k=10)
    assert not {"50", "172", "181"} & {r.item_id for r in results}
    assert sum(any(g in genres(recommender, r.item_id) for g in SCI_FI) for r in results) >= 6
    assert all("which you liked" in r.explanation for r in results if "itself" not in r.explanation)


def test_text_user_gets_matching_films(recommender):
    results = recommender.recommend(text="animated movie for children", k=10)
    matching = sum(any(g in genres(recommender, r.item_id) for g in ("Animation", "Children")) for r in results)
    assert matching >= 6
    assert all(r.explanation for r in results)


def test_added_items_are_ranked_from_text(recommender, tmp_path):
    items = tmp_path / "new.tsv"
    items.write_text("item_id\ttitle\ttext\n"
                     "new-space\tGalactic Rebellion\tA space opera: rebel pilots fight a galactic empire with starships "
                     "and laser swords. Genres: Sci-Fi, Action, Adventure.\n"
                     "new-romcom\tLove in Manhattan\tA romantic comedy: two New Yorkers fall in love. Genres: Comedy, Romance.\n")
    assert recommender.add_items(items) == ["new-space", "new-romcom"]
    results = recommender.recommend(items=["50", "172", "181"], candidates=["new-space", "new-romcom"], k=10)
    assert [r.item_id for r in results] == ["new-space", "new-romcom"]  # k is an upper bound
    assert results[0].explanation == "not linked in the graph: scored from its text alone"
    with pytest.raises(DataError, match="line 2: item 'new-space' is already in the catalogue"):
        recommender.add_items(items)


def test_fold_in_reproduces_a_cold_item_from_its_text_and_kg_edges(recommender):
    # A cold item is in the graph only through its KG edges and its text: folding it in afresh from
    # exactly those must land where the model put it.
    model, data = recommender.model, recommender.data
    cold = int(data.cold_items[0])
    node = model.offsets["item"] + cold
    indices = model.adjacency.to_sparse_coo().coalesce().indices()
    neighbours = indices[1][indices[0] == node]
    assert len(neighbours)
    inputs = recommender._layers[0][node: node + 1]
    with torch.no_grad():
        folded = model.fold_in(inputs, torch.zeros(len(neighbours), dtype=torch.long), neighbours, recommender._layers)
    assert torch.nn.functional.cosine_similarity(folded[0], recommender.item_h[cold], dim=0) > 0.98


def test_kg_triples_link_added_items(recommender, tmp_path):
    star_wars = recommender.data.kg.entities[recommender.data.kg.item_entity[recommender.item_index["50"]]]
    items = tmp_path / "sequel.tsv"
    items.write_text("item_id\ttitle\ttext\tentity\nnew-sequel\tStar Wars: The Sequel\tMore space battles.\thttp://x/sequel\n")
    kg = tmp_path / "sequel.nt"
    kg.write_text(f"<{star_wars}> <http://rdf.freebase.com/ns/film.film.sequel> <http://x/sequel> .\n"
                  '<http://x/sequel> <http://www.w3.org/2000/01/rdf-schema#label> "Star Wars: The Sequel" .\n'
                  "<http://x/sequel> <http://x/p> <http://x/unknown> .\n")
    recommender.add_items(items, kg)
    [result] = recommender.recommend(items=["50"], candidates=["new-sequel"], k=3)
    assert result.explanation == "Star Wars (1977), which you liked: Star Wars (1977) -sequel-> Star Wars: The Sequel"


def test_the_models_lists_order_the_recommendations(recommender, monkeypatch, tmp_path):
    def reverse(scores, width):  # the top `width` by score, worst first
        values, items = scores.topk(width, dim=1)
        return values.flip(1), items.flip(1)

    monkeypatch.setattr(recommender.model, "top_lists", lambda scores, width: tuple(scores.topk(width, dim=1)))
    plain = recommender.recommend("1", k=5, explain=False)
    assert [r.score for r in plain] == sorted((r.score for r in plain), reverse=True)
    monkeypatch.setattr(recommender.model, "top_lists", reverse)
    reranked = recommender.recommend("1", k=5, explain=False)
    assert [(r.item_id, r.score) for r in reranked] == [(r.item_id, r.score) for r in plain][::-1]
    recommender.recommend_all(5, tmp_path / "all.tsv")
    table = list(csv.DictReader(open(tmp_path / "all.tsv", encoding="utf-8"), delimiter="\t"))
    assert [row["item_id"] for row in table if row["user_id"] == "1"] == [r.item_id for r in reranked]


def test_candidates_that_are_all_seen_give_an_empty_list(recommender):
    assert recommender.recommend(items=["50", "172"], candidates=["50", "172"], k=5) == []


@pytest.mark.parametrize("query, message", [
    (dict(user="no-such-user"), "unknown user 'no-such-user'"),
    (dict(items=["50", "nope"]), "unknown item id\\(s\\) 'nope'"),
    (dict(user="1", candidates=["50", "zzz"]), "--candidates: unknown item id\\(s\\) 'zzz'"),
    (dict(user="1", k=0), "k must be at least 1"),
    (dict(), "give either a known user"),
    (dict(user="1", categories=["Drama"]), "has no categories"),
])
def test_bad_queries_raise_clear_errors(recommender, query, message):
    with pytest.raises(KgrecError, match=message):
        recommender.recommend(**query)


def test_batch_export_matches_single_queries(recommender, tmp_path):
    rows = recommender.recommend_all(5, tmp_path / "all.tsv")
    table = list(csv.DictReader(open(tmp_path / "all.tsv", encoding="utf-8"), delimiter="\t"))
    assert rows == len(table) == 5 * recommender.data.num_users
    user = table[0]["user_id"]
    single = [r.item_id for r in recommender.recommend(user, k=5, explain=False)]
    assert [row["item_id"] for row in table if row["user_id"] == user] == single


def test_not_a_run_directory(tmp_path):
    with pytest.raises(KgrecError, match="not a kgrec-train run directory: it has no config.yaml"):
        Recommender.load(tmp_path)


def test_a_text_match_run_scores_known_and_new_users_and_added_items_with_it(ml100k_bundle, tmp_path_factory,
                                                                           tmp_path):
    recommender = Recommender.load(train_run(ml100k_bundle, tmp_path_factory, "model.text_match=true"))
    model = recommender.model
    with torch.no_grad():
        torch.testing.assert_close(recommender.user_scores(torch.tensor([0])), model.score(torch.tensor([0])))
        liked = [0, 1]
        with_match, _ = recommender._new_user(liked, None)
        weight, model.text_match_weight.data = model.text_match_weight.data.clone(), torch.tensor(0.0)
        without, _ = recommender._new_user(liked, None)
        model.text_match_weight.data = weight
    profile = torch.nn.functional.normalize(model.item_text[liked].sum(0), dim=0)
    torch.testing.assert_close(with_match - without, weight * model.item_text @ profile)
    items = tmp_path / "new.tsv"
    items.write_text("item_id\ttitle\ttext\nnew-space\tGalactic Rebellion\tA space opera with starships. "
                     "Genres: Sci-Fi.\nnew-romcom\tLove in Manhattan\tA romantic comedy. Genres: Comedy, Romance.\n")
    recommender.add_items(items)
    user = torch.tensor([0])
    with torch.no_grad():
        scores = recommender.user_scores(user)[0]
        model.text_match_weight.data = torch.tensor(0.0)
        graph_only = recommender.user_scores(user)[0]
        model.text_match_weight.data = weight
    assert len(recommender.item_text) == len(recommender.item_ids) == len(scores)
    added = recommender._encode([line.split("\t")[2] for line in items.read_text().splitlines()[1:]])
    expected = weight * torch.nn.functional.normalize(added, dim=-1) @ model.user_profiles(user)[0]
    torch.testing.assert_close((scores - graph_only)[-2:], expected)
