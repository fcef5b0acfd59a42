"""kgrec-ingest: the fast readers give rdflib's graph, errors name their line, pruning/linking/summary/cache work."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kgrec.cli.ingest import main
from kgrec.data.problems import Problems
from kgrec.data.rdf import build_knowledge_graph, load_rdf, read_triples
from kgrec.ingest import cache
from kgrec.ingest.graph import KgMapping
from kgrec.ingest.load import ingest_files

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
KG_DATA = Path(__file__).resolve().parents[1] / "kg_data" / "kg.ttl.gz"
EX = "http://example.org/"
SAME_AS = "http://www.w3.org/2002/07/owl#sameAs"
LABEL = "http://www.w3.org/2000/01/rdf-schema#label"


def _comparable(kg):
    return (kg.entities, kg.relations, kg.triples.tolist(), kg.labels, kg.item_entity.tolist(),
            kg.categories.tolist())


def _reference(path, items, **options):
    """rdflib's parse of the file through the shared builder: what the fast readers must reproduce."""
    return build_knowledge_graph(read_triples(path), items, **options)


def _shared(relative):
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"{path} is absent")
    return path


def _item_iris(items_tsv):
    lines = items_tsv.read_text(encoding="utf-8").splitlines()[1:]
    return [line.split("\t")[1] or None for line in lines]


@pytest.mark.parametrize("dataset", ["ml-100k", "ml-latest-small"])
def test_the_fast_reader_gives_rdflibs_graph_of_a_shared_kg(dataset):
    path = _shared(f"{dataset}/bundle/kg.nt")
    items = _item_iris(path.with_name("items.tsv"))
    fast = load_rdf([path], items)
    assert _comparable(fast) == _comparable(_reference(path, items))
    assert (fast.item_entity >= 0).sum() > 0.9 * len(items)


def test_the_embedded_turtle_kg_gives_rdflibs_graph():
    items = [f"https://movielens.org/movies/{number}" for number in range(1, 2000)]
    fast = load_rdf([KG_DATA], items)
    assert _comparable(fast) == _comparable(_reference(KG_DATA, items))
    assert fast.categories.any() and (fast.item_entity >= 0).any()


@pytest.mark.parametrize("format, suffix", [("xml", ".rdf"), ("turtle", ".ttl"), ("json-ld", ".jsonld"),
                                            ("nquads", ".nq")])
def test_the_shared_kg_converted_to_other_formats_gives_the_same_graph(tmp_path, format, suffix):
    import rdflib

    lines = _shared("ml-100k/bundle/kg.nt").read_text(encoding="utf-8").splitlines(keepends=True)
    original = tmp_path / "kg.nt"
    original.write_text("".join(lines[:1500] + lines[-1500:]), encoding="utf-8")
    graph = rdflib.Dataset()
    graph.parse(original, format="nt")
    converted = tmp_path / f"kg{suffix}"
    graph.serialize(converted, format=format)
    items = _item_iris(_shared("ml-100k/bundle/items.tsv"))
    assert _comparable(load_rdf([converted], items)) == _comparable(load_rdf([original], items))


# Lines the C reader leaves to the full grammar in Python (a comment, a blank line, tabs, two spaces, a
# trailing comment), next to lines it reads itself (escapes, xsd:string, language tags, a \r\n ending).
ODD_NTRIPLES = f"""\
# a comment line, then a blank one

<{EX}a> <{EX}p> <{EX}b> .
<{EX}a>\t<{EX}p>  <{EX}c> . # tabs, two spaces and a trailing comment
<{EX}a> <{EX}q> _:n1 .
_:n1 <{EX}q> _:n2 .
_:n2 <{EX}q> <{EX}b> .
<{EX}a> <{LABEL}> "tab\\there \\"quoted\\" \\u00e9"@EN .
<{EX}b> <{LABEL}> "plain"^^<http://www.w3.org/2001/XMLSchema#string> .
<{EX}b> <{LABEL}> "plain" .
<{EX}caf\\u00e9> <{EX}p> <{EX}a> .
<{EX}c> <{LABEL}> "with spaces . and <brackets>"@en-GB .
<{EX}c> <{EX}year> "1995"^^<http://www.w3.org/2001/XMLSchema#integer> .\r
"""


def test_odd_but_valid_ntriples_lines_read_as_rdflib_reads_them(tmp_path):
    path = tmp_path / "odd.nt"
    path.write_text(ODD_NTRIPLES, encoding="utf-8", newline="")
    problems = Problems()
    fast = load_rdf([path], [], problems=problems)
    assert _comparable(fast) == _comparable(_reference(path, []))
    labels = dict(zip(fast.entities, fast.labels))
    assert labels[EX + "a"] == 'tab\there "quoted" é' and labels[EX + "c"] == "with spaces . and <brackets>"
    assert EX + "café" in fast.entities and fast.entities[-2:] == ["_:b0", "_:b1"]
    assert problems.duplicates == 1  # "plain" and "plain"^^xsd:string are the same literal


def test_nquads_drop_graph_names_even_after_a_literal_with_spaces(tmp_path):
    quads = (f'<{EX}a> <{LABEL}> "a <b> c"@en <{EX}g> .\n<{EX}a> <{EX}p> <{EX}b> _:g .\n'
             f'<{EX}a> <{EX}p> <{EX}c> .\n<{EX}c> <{LABEL}> "x y"^^<{EX}dt> <{EX}g> .\n')
    path = tmp_path / "kg.nq"
    path.write_text(quads, encoding="utf-8")
    fast = load_rdf([path], [])
    assert fast.labels[fast.entities.index(EX + "a")] == "a <b> c"
    assert _comparable(fast) == _comparable(_reference(path, []))


def _run(argv, capsys):
    code = main([str(part) for part in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_malformed_line_stops_the_cli_with_its_file_line_and_text(tmp_path, capsys):
    path = tmp_path / "kg.nt"
    path.write_text(f"<{EX}a> <{EX}p> <{EX}b> .\n<{EX}a> <{EX}p> {EX}oops .\n", encoding="utf-8")
    code, out, err = _run([path, "--out", tmp_path / "cache"], capsys)
    assert code == 2 and out == ""
    assert f"{path}, line 2" in err and f"{EX}oops" in err and "Traceback" not in err
    assert not (tmp_path / "cache" / "manifest.json").exists()


def test_the_cli_process_exits_non_zero_without_a_traceback(tmp_path):
    path = tmp_path / "kg.ttl"
    path.write_text(f'<{EX}a> <{EX}p> <{EX}b> .\n<{EX}a> <{EX}p> "unterminated .\n', encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "kgrec.cli.ingest", str(path), "--out", str(tmp_path / "c")],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "line 2" in done.stderr and "Traceback" not in done.stderr


def test_on_error_skip_counts_and_lists_the_skipped_lines(tmp_path, capsys):
    path = tmp_path / "kg.nt"
    good = [f"<{EX}a> <{EX}p> <{EX}n{number}> .\n" for number in range(5)]
    path.write_text("".join(good[:2] + ["not a triple\n"] + good[2:] + ["<a> <b> .\n"]), encoding="utf-8")
    code, out, _ = _run([path, "--out", tmp_path / "cache", "--on-error", "skip"], capsys)
    assert code == 0 and "skipped 2 malformed lines" in out and "line 3" in out and "line 7" in out
    kg, summary, *_ = cache.load(tmp_path / "cache", _key_of(tmp_path / "cache"))
    assert len(kg) == 5 and summary.skipped_lines == 2


def test_without_the_c_extension_the_cli_warns_and_writes_the_same_graph(tmp_path):
    """An install without a C compiler has no kgrec.ingest._vocabulary: the Python twin must stand in."""
    path = tmp_path / "odd.nt"
    path.write_text(ODD_NTRIPLES + "".join(f"<{EX}n{k}> <{EX}p> <{EX}n{k + 1}> .\n" for k in range(50)),
                    encoding="utf-8", newline="")
    outputs = []
    for blocked in (False, True):
        out = tmp_path / f"cache-{blocked}"
        script = ("import sys\n" + ("sys.modules['kgrec.ingest._vocabulary'] = None\n" if blocked else "")
                  + "from kgrec.cli.ingest import main\nsys.exit(main())")
        done = subprocess.run([sys.executable, "-c", script, str(path), "--out", str(out)],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert ("was not compiled" in done.stderr) == blocked
        kg, *_ = cache.load(out, _key_of(out))
        outputs.append(_comparable(kg))
    assert outputs[0] == outputs[1] and len(outputs[0][2]) > 50


def _key_of(directory):
    import json

    return json.loads((directory / "manifest.json").read_text())["key"]


# items: m1 by its own IRI, m2 through owl:sameAs; the chain m1 - p1 - x1 - y1 measures hops.
CHAIN = f"""\
<{EX}m1> <{EX}actor> <{EX}p1> .
<{EX}p1> <{EX}bornIn> <{EX}x1> .
<{EX}x1> <{EX}partOf> <{EX}y1> .
<{EX}wd2> <{EX}actor> <{EX}p1> .
<{EX}m2> <{SAME_AS}> <{EX}wd2> .
<{EX}island> <{EX}partOf> <{EX}sea> .
<{EX}m1> <{EX}year> "1995" .
<{EX}m1> <{LABEL}> "One"@en .
<{EX}m1> <{EX}actor> <{EX}p1> .
"""


@pytest.mark.parametrize("hops, kept", [(1, {"m1", "wd2", "p1"}), (2, {"m1", "wd2", "p1", "x1"}),
                                        (3, {"m1", "wd2", "p1", "x1", "y1"})])
def test_k_hop_pruning_keeps_the_neighbourhood_of_linked_items(tmp_path, hops, kept):
    path = tmp_path / "kg.nt"
    path.write_text(CHAIN, encoding="utf-8")
    kg, summary, _, _ = ingest_files([path], [EX + "m1", EX + "m2", EX + "m3", None], KgMapping(hops=hops))
    assert {entity[len(EX):] for entity in kg.entities} == kept
    assert [kg.entities[e][len(EX):] if e >= 0 else None for e in kg.item_entity] == ["m1", "wd2", None, None]
    assert summary.items_linked == 2 and summary.items_linked_through_same_as == 1 and summary.items_not_linked == 2
    assert summary.out_of_neighbourhood == 5 - len(kg)
    assert (summary.duplicates, summary.literals_dropped, summary.label_triples, summary.same_as_triples) == (1, 1, 1, 1)
    parts = (summary.duplicates + summary.literals_dropped + summary.label_triples + summary.same_as_triples
             + summary.relation_filtered + summary.out_of_neighbourhood + summary.edges)
    assert parts == summary.triples_read == 9


def test_the_relation_filter_keeps_or_drops_predicates(tmp_path):
    path = tmp_path / "kg.nt"
    path.write_text(CHAIN, encoding="utf-8")
    kept, summary, _, _ = ingest_files([path], [], KgMapping(keep_relations=[EX + "actor", EX + "absent"]))
    assert kept.relations == [EX + "actor"] and summary.relation_filtered == 3
    dropped, *_ = ingest_files([path], [], KgMapping(drop_relations=[EX + "partOf"]))
    assert dropped.relations == [EX + "actor", EX + "bornIn"]


def test_the_cli_links_items_by_column_prunes_and_reports(tmp_path, capsys):
    (tmp_path / "kg.nt").write_text(CHAIN, encoding="utf-8")
    (tmp_path / "items.csv").write_text(f"movieId,iri\n1,{EX}m1\n2,{EX}m2\n3,\n", encoding="utf-8")
    code, out, _ = _run([tmp_path / "*.nt", "--out", tmp_path / "cache", "--items", tmp_path / "items.csv",
                         "--item-column", "iri", "--hops", "1"], capsys)
    assert code == 0
    assert "items linked 2 (1 through owl:sameAs), not linked 1 of 3" in out
    assert "3 outside the 1-hop neighbourhood" in out and "kept 40.0% of the edges" in out


def test_the_cli_keeps_the_whole_graph_without_an_item_table(tmp_path, capsys):
    (tmp_path / "kg.nt").write_text(CHAIN, encoding="utf-8")
    code, out, _ = _run([tmp_path / "kg.nt", "--out", tmp_path / "cache"], capsys)
    assert code == 0 and "kept 5 edges over 7 entities" in out and "no pruning" in out


def test_the_cli_prefers_the_requested_label_language(tmp_path, capsys):
    (tmp_path / "kg.nt").write_text(f'<{EX}a> <{EX}p> <{EX}b> .\n<{EX}a> <{LABEL}> "Hund"@de .\n'
                                    f'<{EX}a> <{LABEL}> "dog"@en-US .\n<{EX}a> <{LABEL}> "chien"@fr .\n',
                                    encoding="utf-8")
    for language, label in [("de", "Hund"), ("en", "dog"), ("fr", "chien"), ("es", "Hund")]:  # then by value
        assert _run([tmp_path / "kg.nt", "--out", tmp_path / language, "--language", language], capsys)[0] == 0
        kg = cache.load(tmp_path / language, _key_of(tmp_path / language)).kg
        assert kg.labels[0] == label


def test_the_cache_is_reused_until_an_input_or_option_changes(tmp_path, capsys):
    path = tmp_path / "kg.nt"
    path.write_text(CHAIN, encoding="utf-8")
    out_dir = tmp_path / "cache"
    assert "wrote" in _run([path, "--out", out_dir], capsys)[1]
    assert "reused the cache" in _run([path, "--out", out_dir], capsys)[1]
    assert "wrote" in _run([path, "--out", out_dir, "--language", "de"], capsys)[1]
    path.write_text(CHAIN + f"<{EX}y1> <{EX}partOf> <{EX}z1> .\n", encoding="utf-8")
    out = _run([path, "--out", out_dir, "--language", "de"], capsys)[1]
    assert "wrote" in out and "kept 6 edges" in out
    cached = cache.load(out_dir, _key_of(out_dir)).kg
    assert _comparable(cached) == _comparable(load_rdf([path], [], language="de"))


def test_a_glob_matching_nothing_is_an_error(tmp_path, capsys):
    code, _, err = _run([tmp_path / "*.nt", "--out", tmp_path / "cache"], capsys)
    assert code == 2 and "no file matches" in err


def test_the_cli_import_path_has_neither_torch_nor_rdflib():
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "import kgrec.cli.ingest, kgrec.ingest.load"],
                          capture_output=True, text=True, check=True)
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "numpy" in imported and "torch" not in imported and "rdflib" not in imported


def test_the_cache_round_trips_the_graph(tmp_path):
    ingested = ingest_files([KG_DATA], [f"https://movielens.org/movies/{n}" for n in range(1, 50)])
    cache.save(tmp_path, ingested, {"k": 1})
    assert cache.load(tmp_path, {"k": 2}) is None
    loaded = cache.load(tmp_path, {"k": 1})
    assert _comparable(loaded.kg) == _comparable(ingested.kg) and loaded.summary == ingested.summary
    assert np.array_equal(loaded.kg.triples, ingested.kg.triples) and loaded.reused


def _no_parsing(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("parsed although the cache was up to date")

    monkeypatch.setattr("kgrec.ingest.load.read_rows", refuse)


def test_training_reads_the_kg_through_the_cache_without_parsing_again(ml100k_bundle, tmp_path, monkeypatch):
    from kgrec.data.load import load_dataset

    whole = load_rdf([ml100k_bundle / "kg.nt"], [])
    config = {"format": "bundle", "path": str(ml100k_bundle),
              "kg": {"language": "en", "hops": 1, "drop_relations": whole.relations[:1]}}
    direct = load_dataset(config)
    assert direct.kg.relations == whole.relations[1:], "data.kg.drop_relations was not honoured"
    cached_config = {**config, "kg": {**config["kg"], "cache": str(tmp_path / "kg")}}
    first = load_dataset(cached_config)
    _no_parsing(monkeypatch)
    second = load_dataset(cached_config)
    for data in (first, second):
        assert data.item_ids == direct.item_ids and _comparable(data.kg) == _comparable(direct.kg)


def test_a_kgrec_ingest_directory_alone_gives_training_its_kg(ml100k_bundle, tmp_path, capsys, monkeypatch):
    from kgrec.data.bundle import load_bundle

    out = tmp_path / "kg"
    assert _run([ml100k_bundle / "kg.nt", "--out", out, "--items", ml100k_bundle / "items.tsv", "--hops", "0"],
                capsys)[0] == 0
    _no_parsing(monkeypatch)
    data = load_bundle(ml100k_bundle, kg={"cache": str(out)})
    monkeypatch.undo()
    assert _comparable(data.kg) == _comparable(load_bundle(ml100k_bundle).kg)


def test_tables_take_the_kg_options_and_a_cache_without_paths(tmp_path, monkeypatch):
    from kgrec.data.raw import load_tables

    (tmp_path / "ratings.csv").write_text("user,item\nu1,m1\nu1,m2\nu2,m1\nu2,m2\nu3,m1\n", encoding="utf-8")
    (tmp_path / "items.csv").write_text(f"item,iri\nm1,{EX}m1\nm2,{EX}m2\n", encoding="utf-8")
    (tmp_path / "kg.nt").write_text(CHAIN, encoding="utf-8")

    def load(kg):
        return load_tables({"path": "ratings.csv", "user": "user", "item": "item"},
                           {"path": "items.csv", "id": "item", "entity": "iri"}, None, kg,
                           {"strategy": "random", "cold_item_share": 0.0, "seed": 0}, name="t", base_dir=tmp_path)

    options = {"hops": 1, "drop_relations": [EX + "bornIn"]}
    direct = load({"paths": ["kg.nt"], **options}).kg
    assert set(direct.entities) == {EX + "m1", EX + "wd2", EX + "p1"}
    through_cache = load({"paths": ["kg.nt"], "cache": str(tmp_path / "c"), **options}).kg
    _no_parsing(monkeypatch)
    assert _comparable(load({"cache": str(tmp_path / "c"), **options}).kg) == _comparable(through_cache)
    assert _comparable(through_cache) == _comparable(direct)


LITERALS = f"""\
<{EX}m1> <{EX}actor> <{EX}p1> .
<{EX}m1> <{LABEL}> "One"@en .
<{EX}m1> <{EX}year> "1995"^^<http://www.w3.org/2001/XMLSchema#gYear> .
<{EX}p1> <{EX}comment> "likes \\"tea\\""@EN .
<{EX}lonely> <{EX}note> "no edges" .
"""


def test_literals_are_dropped_and_counted_by_default_and_kept_as_attributes_on_request(tmp_path, capsys):
    path = tmp_path / "kg.nt"
    path.write_text(LITERALS, encoding="utf-8")
    code, out, _ = _run([path, "--out", tmp_path / "drop"], capsys)
    assert code == 0 and "dropped 0 duplicates, 3 non-label literals" in out
    dropped = cache.load(tmp_path / "drop", _key_of(tmp_path / "drop"))
    assert len(dropped.attributes) == 0 and dropped.summary.literals_dropped == 3

    code, out, _ = _run([path, "--out", tmp_path / "keep", "--literals", "keep"], capsys)
    assert code == 0 and "kept 2 literals as entity attributes" in out and "1 non-label literals" in out
    kept = cache.load(tmp_path / "keep", _key_of(tmp_path / "keep"))
    entities = kept.kg.entities
    facts = sorted(zip([entities[e] for e in kept.attributes.entity.tolist()], kept.attributes.predicate.to_pylist(),
                       kept.attributes.value.to_pylist()))
    assert facts == [(EX + "m1", EX + "year", '"1995"^^<http://www.w3.org/2001/XMLSchema#gYear>'),
                     (EX + "p1", EX + "comment", '"likes "tea""@en')]
    assert kept.summary.literals_kept == 2 and kept.summary.literals_dropped == 1
    assert _comparable(kept.kg) == _comparable(dropped.kg)  # attributes never change the graph
    assert len(ingest_files([path], [], KgMapping(literals="keep")).attributes) == 2
