"""KGAT/KGIN kg_final.txt and RecBole NAME.kg through kgrec-ingest: same graph as the RDF it encodes, exact line errors."""

import pytest

from kgrec.cli.ingest import main
from kgrec.data.problems import Problems
from kgrec.data.rdf import load_rdf
from kgrec.errors import DataError
from kgrec.ingest.load import ingest_files

EX = "http://example.org/"
TRIPLES = [(0, 0, 2), (1, 0, 2), (0, 1, 3), (1, 1, 3), (0, 0, 2)]  # the last repeats the first


def _write_kgat(directory, lists=True):
    directory.mkdir(exist_ok=True)
    path = directory / "kg_final.txt"
    path.write_text("".join(f"{h} {r} {t}\n" for h, r, t in TRIPLES), encoding="utf-8")
    if lists:
        names = ["m0", "m1", "comedy", "paris"]
        (directory / "entity_list.txt").write_text(
            "org_id remap_id\n" + "".join(f"{EX}{name} {k}\n" for k, name in enumerate(names)), encoding="utf-8")
        (directory / "relation_list.txt").write_text(f"org_id remap_id\n{EX}genre 0\n{EX}setIn 1\n", encoding="utf-8")
    return path


def _comparable(kg):
    return kg.entities, kg.relations, kg.triples.tolist(), kg.item_entity.tolist()


def test_kg_final_with_its_id_lists_is_the_graph_of_the_same_rdf(tmp_path):
    path = _write_kgat(tmp_path / "kgat")
    names = {0: "m0", 1: "m1", 2: "comedy", 3: "paris"}
    relations = {0: "genre", 1: "setIn"}
    rdf = tmp_path / "kg.nt"
    rdf.write_text("".join(f"<{EX}{names[h]}> <{EX}{relations[r]}> <{EX}{names[t]}> .\n" for h, r, t in TRIPLES),
                   encoding="utf-8")
    items = [EX + "m1", EX + "m0", None]
    kg, summary, *_ = ingest_files([path], items)
    assert _comparable(kg) == _comparable(load_rdf([rdf], items))
    assert summary.triples_read == 5 and summary.duplicates == 1 and summary.items_linked == 2


def test_without_lists_ids_become_urns_and_format_kgat_reads_any_file_name(tmp_path):
    path = _write_kgat(tmp_path / "kgin", lists=False)
    renamed = path.rename(tmp_path / "kgin" / "triples.txt")
    with pytest.raises(DataError, match="cannot tell the RDF format"):
        ingest_files([renamed], [])
    kg, *_ = ingest_files([renamed], [], format="kgat")
    assert kg.entities == [f"urn:kgat:entity:{k}" for k in range(4)]
    assert kg.relations == ["urn:kgat:relation:0", "urn:kgat:relation:1"] and len(kg) == 4


def test_item_list_names_the_items_when_there_is_no_entity_list(tmp_path):
    path = _write_kgat(tmp_path / "kgat", lists=False)
    (tmp_path / "kgat" / "item_list.txt").write_text("org_id remap_id freebase_id\n7 0 m.07\n9 1 m.09\n",
                                                     encoding="utf-8")
    kg, *_ = ingest_files([path], ["m.09"])
    assert kg.entities == ["m.07", "m.09", "urn:kgat:entity:2", "urn:kgat:entity:3"]
    assert kg.item_entity.tolist() == [1]


def test_a_malformed_kg_final_line_names_file_line_and_text(tmp_path, capsys):
    path = _write_kgat(tmp_path / "kgat")
    path.write_text("0 0 2\n\n1 0 x2\n0 1 3\n", encoding="utf-8")
    assert main([str(path), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert f"{path}, line 3: malformed KGAT triple" in err and "'1 0 x2'" in err and "Traceback" not in err
    problems = Problems("skip")
    kg, summary, *_ = ingest_files([path], [], problems=problems)
    assert problems.skipped == 1 and summary.skipped_lines == 1 and len(kg) == 2


def test_a_malformed_id_list_line_names_its_line(tmp_path):
    path = _write_kgat(tmp_path / "kgat")
    (tmp_path / "kgat" / "relation_list.txt").write_text(f"org_id remap_id\n{EX}genre 0\n{EX}setIn one\n",
                                                        encoding="utf-8")
    with pytest.raises(DataError, match=r"relation_list.txt, line 3: want 2 fields"):
        ingest_files([path], [])


def test_recbole_kg_through_kgrec_ingest_is_the_recbole_loaders_graph(ml100k_raw, tmp_path, capsys):
    from kgrec.data.recbole import load_recbole

    kg_path = next(ml100k_raw.glob("*.kg"))
    assert main([str(kg_path), "--out", str(tmp_path / "c")]) == 0
    ingested, *_ = ingest_files([kg_path], [])
    loaded = load_recbole(ml100k_raw, split={"strategy": "random", "seed": 0}).kg

    def named(kg):
        return {(kg.entities[h], kg.relations[r], kg.entities[t]) for h, r, t in kg.triples.tolist()}

    assert ingested.relations == loaded.relations and named(ingested) == named(loaded)


def test_a_recbole_kg_line_with_an_empty_field_names_its_line(tmp_path):
    path = tmp_path / "x.kg"
    path.write_text("head_id:token\trelation_id:token\ttail_id:token\nm.1\tgenre\tm.2\nm.3\t\tm.4\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"x.kg, line 3: empty head, relation or tail"):
        ingest_files([path], [])
