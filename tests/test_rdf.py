"""The rdflib loader: the same small graph written in every format loads to the same KnowledgeGraph."""

import bz2
import gzip
import logging
import socket

import numpy as np
import pytest

from kgrec.data.problems import Problems
from kgrec.data.rdf import load_rdf
from kgrec.errors import DataError

EX = "http://example.org/"
ITEMS = [EX + "movie/1", EX + "movie/2", EX + "movie/3", EX + "movie/absent", None]

# movie/3 is known only through owl:sameAs with imdb/tt3; the year literal is not a label and is dropped.
NTRIPLES = f"""\
<{EX}movie/1> <http://schema.org/genre> <{EX}genre/comedy> .
<{EX}movie/2> <http://schema.org/genre> <{EX}genre/comedy> .
<{EX}movie/1> <{EX}director> <{EX}person/alice> .
<{EX}imdb/tt3> <{EX}director> <{EX}person/alice> .
<{EX}movie/3> <http://www.w3.org/2002/07/owl#sameAs> <{EX}imdb/tt3> .
<{EX}genre/comedy> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <http://www.w3.org/2004/02/skos/core#Concept> .
<{EX}genre/comedy> <http://www.w3.org/2004/02/skos/core#prefLabel> "Comedy"@en .
<{EX}genre/comedy> <http://www.w3.org/2004/02/skos/core#prefLabel> "Komödie"@de .
<{EX}movie/1> <http://www.w3.org/2000/01/rdf-schema#label> "Toy Story" .
<{EX}movie/1> <{EX}year> "1995"^^<http://www.w3.org/2001/XMLSchema#integer> .
<{EX}person/alice> <http://www.w3.org/2000/01/rdf-schema#label> "Alice"@de .
<{EX}person/alice> <http://schema.org/name> "Alice A."@en .
"""

PREFIXES = f"""\
@prefix ex: <{EX}> .
@prefix schema: <http://schema.org/> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
"""

TURTLE_BODY = """\
<movie/1> schema:genre <genre/comedy> ; ex:director <person/alice> ; rdfs:label "Toy Story" ; ex:year 1995 .
<movie/2> schema:genre <genre/comedy> .
<imdb/tt3> ex:director <person/alice> .
<movie/3> owl:sameAs <imdb/tt3> .
<genre/comedy> a skos:Concept ; skos:prefLabel "Comedy"@en, "Komödie"@de .
<person/alice> rdfs:label "Alice"@de ; schema:name "Alice A."@en .
"""

# Graph names are dropped: the KG is the union of the named graphs and the default graph.
NQUADS = "".join(
    line[:-2] + (f" <{EX}graph/{number % 2}> .\n" if number % 3 else " .\n")
    for number, line in enumerate(NTRIPLES.splitlines(keepends=True))
)

TRIG = f"""{PREFIXES}@base <{EX}> .
<graph/a> {{
<movie/1> schema:genre <genre/comedy> ; ex:director <person/alice> ; rdfs:label "Toy Story" ; ex:year 1995 .
<movie/2> schema:genre <genre/comedy> .
}}
<graph/b> {{ <imdb/tt3> ex:director <person/alice> . <movie/3> owl:sameAs <imdb/tt3> . }}
<genre/comedy> a skos:Concept ; skos:prefLabel "Comedy"@en, "Komödie"@de .
<person/alice> rdfs:label "Alice"@de ; schema:name "Alice A."@en .
"""

RDF_XML = f"""<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:rdfs="http://www.w3.org/2000/01/rdf-schema#"
         xmlns:owl="http://www.w3.org/2002/07/owl#" xmlns:skos="http://www.w3.org/2004/02/skos/core#"
         xmlns:schema="http://schema.org/" xmlns:ex="{EX}">
  <rdf:Description rdf:about="{EX}movie/1">
    <schema:genre rdf:resource="{EX}genre/comedy"/>
    <ex:director rdf:resource="{EX}person/alice"/>
    <rdfs:label>Toy Story</rdfs:label>
    <ex:year rdf:datatype="http://www.w3.org/2001/XMLSchema#integer">1995</ex:year>
  </rdf:Description>
  <rdf:Description rdf:about="{EX}movie/2"><schema:genre rdf:resource="{EX}genre/comedy"/></rdf:Description>
  <rdf:Description rdf:about="{EX}imdb/tt3"><ex:director rdf:resource="{EX}person/alice"/></rdf:Description>
  <rdf:Description rdf:about="{EX}movie/3"><owl:sameAs rdf:resource="{EX}imdb/tt3"/></rdf:Description>
  <skos:Concept rdf:about="{EX}genre/comedy">
    <skos:prefLabel xml:lang="en">Comedy</skos:prefLabel>
    <skos:prefLabel xml:lang="de">Komödie</skos:prefLabel>
  </skos:Concept>
  <rdf:Description rdf:about="{EX}person/alice">
    <rdfs:label xml:lang="de">Alice</rdfs:label>
    <schema:name xml:lang="en">Alice A.</schema:name>
  </rdf:Description>
</rdf:RDF>
"""

JSON_LD = f"""{{
  "@context": {{"ex": "{EX}", "schema": "http://schema.org/", "owl": "http://www.w3.org/2002/07/owl#",
               "rdfs": "http://www.w3.org/2000/01/rdf-schema#", "skos": "http://www.w3.org/2004/02/skos/core#",
               "xsd": "http://www.w3.org/2001/XMLSchema#"}},
  "@graph": [
    {{"@id": "ex:movie/1", "schema:genre": {{"@id": "ex:genre/comedy"}}, "ex:director": {{"@id": "ex:person/alice"}},
     "rdfs:label": "Toy Story", "ex:year": {{"@value": "1995", "@type": "xsd:integer"}}}},
    {{"@id": "ex:movie/2", "schema:genre": {{"@id": "ex:genre/comedy"}}}},
    {{"@id": "ex:imdb/tt3", "ex:director": {{"@id": "ex:person/alice"}}}},
    {{"@id": "ex:movie/3", "owl:sameAs": {{"@id": "ex:imdb/tt3"}}}},
    {{"@id": "ex:genre/comedy", "@type": "skos:Concept",
     "skos:prefLabel": [{{"@value": "Comedy", "@language": "en"}}, {{"@value": "Komödie", "@language": "de"}}]}},
    {{"@id": "ex:person/alice", "rdfs:label": {{"@value": "Alice", "@language": "de"}},
     "schema:name": {{"@value": "Alice A.", "@language": "en"}}}}
  ]
}}
"""

DOCUMENTS = {
    "kg.nt": NTRIPLES.encode(),
    "kg.nq": NQUADS.encode(),
    "kg.ttl": (PREFIXES + f"@base <{EX}> .\n" + TURTLE_BODY).encode(),
    "kg.trig": TRIG.encode(),
    "kg.rdf": RDF_XML.encode(),
    "kg.jsonld": JSON_LD.encode(),
    "kg.nt.gz": gzip.compress(NTRIPLES.encode()),
    "kg.ttl.bz2": bz2.compress((PREFIXES + f"@base <{EX}> .\n" + TURTLE_BODY).encode()),
}


def _write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def _comparable(kg):
    return (kg.entities, kg.relations, kg.triples.tolist(), kg.labels, kg.item_entity.tolist(),
            kg.categories.tolist())


def _edges(kg):
    return {(kg.entities[h], kg.relations[r], kg.entities[t]) for h, r, t in kg.triples}


def test_the_ntriples_graph_is_read_as_described(tmp_path):
    problems = Problems()
    kg = load_rdf([_write(tmp_path, "kg.nt", NTRIPLES)], ITEMS, problems=problems)
    assert _edges(kg) == {
        (EX + "movie/1", "http://schema.org/genre", EX + "genre/comedy"),
        (EX + "movie/2", "http://schema.org/genre", EX + "genre/comedy"),
        (EX + "movie/1", EX + "director", EX + "person/alice"),
        (EX + "imdb/tt3", EX + "director", EX + "person/alice"),
        (EX + "genre/comedy", "http://www.w3.org/1999/02/22-rdf-syntax-ns#type",
         "http://www.w3.org/2004/02/skos/core#Concept"),
    }
    assert kg.entities == sorted(kg.entities)
    assert kg.relations == sorted(kg.relations)
    linked = [kg.entities[e] if e >= 0 else None for e in kg.item_entity]
    assert linked == [EX + "movie/1", EX + "movie/2", EX + "imdb/tt3", None, None]
    categories = {entity for entity, flag in zip(kg.entities, kg.categories) if flag}
    assert categories == {EX + "genre/comedy", "http://www.w3.org/2004/02/skos/core#Concept"}
    labels = {entity: label for entity, label in zip(kg.entities, kg.labels) if label is not None}
    assert labels == {EX + "movie/1": "Toy Story", EX + "genre/comedy": "Comedy", EX + "person/alice": "Alice A."}
    assert problems.duplicates == 0


@pytest.mark.parametrize("name", [name for name in DOCUMENTS if name != "kg.nt"])
def test_every_format_gives_the_same_graph(tmp_path, name):
    expected = load_rdf([_write(tmp_path, "kg.nt", NTRIPLES)], ITEMS)
    assert _comparable(load_rdf([_write(tmp_path, name, DOCUMENTS[name])], ITEMS)) == _comparable(expected)


def test_labels_follow_the_language_preference(tmp_path):
    extra = (f'<{EX}person/bob> <{EX}knows> <{EX}person/alice> .\n'
             f'<{EX}person/bob> <http://www.w3.org/2000/01/rdf-schema#label> "Robert"@fr .\n'
             f'<{EX}person/bob> <http://www.w3.org/2004/02/skos/core#prefLabel> "Bob" .\n')
    path = _write(tmp_path, "kg.nt", NTRIPLES + extra)

    def labels(language):
        kg = load_rdf([path], ITEMS, language=language)
        return {entity: label for entity, label in zip(kg.entities, kg.labels) if label is not None}

    german = labels("de")
    assert german[EX + "genre/comedy"] == "Komödie" and german[EX + "person/alice"] == "Alice"
    english = labels("en")
    assert english[EX + "genre/comedy"] == "Comedy" and english[EX + "person/alice"] == "Alice A."
    assert english[EX + "person/bob"] == "Bob"  # untagged beats another language
    assert labels("fr")[EX + "person/bob"] == "Robert"
    assert labels("en-GB")[EX + "person/bob"] == "Bob"


def test_equally_preferred_labels_go_to_the_smallest_value_whatever_the_statement_order(tmp_path):
    label = "<http://www.w3.org/2000/01/rdf-schema#label>"
    lines = [f'<{EX}a> {label} "{value}"@{tag} .\n' for value, tag in
             [("Zeta", "en"), ("Alpha", "en"), ("Mid", "en-us"), ("Aardvark", "fr"), ('Quote \\"q\\"', "en")]]
    lines += [f"<{EX}a> <{EX}p> <{EX}b> .\n", f'<{EX}b> {label} "B"@de .\n', f'<{EX}b> {label} "A"@it .\n']
    chosen = set()
    for seed in range(5):
        np.random.default_rng(seed).shuffle(lines)
        kg = load_rdf([_write(tmp_path, f"kg{seed}.nt", "".join(lines))], [])
        chosen.add(tuple(kg.labels))
    assert chosen == {("Alpha", "A")}  # en and en-us rank alike; for b, neither is English nor untagged


def test_a_regional_language_tag_counts_as_the_language(tmp_path):
    path = _write(tmp_path, "kg.ttl", PREFIXES + f'<{EX}a> ex:p <{EX}b> ; rdfs:label "Colour"@en-GB, "Plain" .\n')
    assert load_rdf([path], []).labels[0] == "Colour"


@pytest.mark.parametrize("direction", ["item first", "entity first"])
def test_owl_same_as_links_an_item_in_either_direction(tmp_path, direction):
    item, entity = f"<{EX}movie/9>", f"<{EX}wikidata/Q9>"
    pair = (item, entity) if direction == "item first" else (entity, item)
    text = (f"{entity} <{EX}director> <{EX}person/alice> .\n"
            f"{pair[0]} <http://www.w3.org/2002/07/owl#sameAs> {pair[1]} .\n")
    kg = load_rdf([_write(tmp_path, "kg.nt", text)], [EX + "movie/9"])
    assert kg.entities[kg.item_entity[0]] == EX + "wikidata/Q9"
    assert EX + "movie/9" not in kg.entities  # sameAs is a link, not an edge


def test_a_same_as_target_without_edges_does_not_link(tmp_path):
    text = f"<{EX}movie/9> <http://www.w3.org/2002/07/owl#sameAs> <{EX}imdb/tt9> .\n" + NTRIPLES
    kg = load_rdf([_write(tmp_path, "kg.nt", text)], [EX + "movie/9"])
    assert kg.item_entity.tolist() == [-1]


def test_custom_category_predicates(tmp_path):
    kg = load_rdf([_write(tmp_path, "kg.nt", NTRIPLES)], ITEMS, category_predicates=[EX + "director"])
    assert [kg.entities[e] for e in np.flatnonzero(kg.categories)] == sorted(
        [EX + "person/alice", EX + "genre/comedy"])  # genre/comedy stays a category: it is a skos:Concept


def test_duplicate_triples_are_removed_and_counted(tmp_path):
    problems = Problems()
    once = load_rdf([_write(tmp_path, "once.nt", NTRIPLES)], ITEMS)
    lines = NTRIPLES.splitlines(keepends=True)
    twice = load_rdf([_write(tmp_path, "twice.nt", "".join(lines + lines[:3]))], ITEMS, problems=problems)
    assert _comparable(twice) == _comparable(once)
    assert problems.duplicates == 3


def test_several_files_are_merged(tmp_path):
    lines = NTRIPLES.splitlines(keepends=True)
    first = _write(tmp_path, "a.nt", "".join(lines[:6]))
    second = _write(tmp_path, "b.nt", "".join(lines[4:]))
    problems = Problems()
    merged = load_rdf([first, second], ITEMS, problems=problems)
    assert _comparable(merged) == _comparable(load_rdf([_write(tmp_path, "kg.nt", NTRIPLES)], ITEMS))
    assert problems.duplicates == 2


def test_blank_nodes_get_stable_names(tmp_path):
    path = _write(tmp_path, "kg.ttl", PREFIXES + f"<{EX}a> ex:p [ ex:q <{EX}b> ] .\n")
    first, second = load_rdf([path], []), load_rdf([path], [])
    assert first.entities == second.entities == [EX + "a", EX + "b", "_:b0"]
    assert _edges(first) == {(EX + "a", EX + "p", "_:b0"), ("_:b0", EX + "q", EX + "b")}


def test_a_malformed_ntriples_line_is_named(tmp_path):
    lines = NTRIPLES.splitlines(keepends=True)
    lines[2] = f"<{EX}movie/1> <{EX}director> {EX}person/alice .\n"
    path = _write(tmp_path, "kg.nt", "".join(lines))
    with pytest.raises(DataError) as caught:
        load_rdf([path], ITEMS)
    assert caught.value.line == 3 and caught.value.path == str(path)


@pytest.mark.parametrize("escape", ["\\U00110000", "\\U0000D800", "\\uDFFF"])
def test_an_escape_that_names_no_character_is_a_malformed_line(tmp_path, escape):
    """Past U+10FFFF or a surrogate: refused by line, not a traceback; an escaped backslash is no escape."""
    text = (f'<{EX}a> <{EX}name> "fine \\\\uD800" .\n<{EX}a> <{EX}p> <{EX}b> . # \\uD800 in a comment\n'
            f'<{EX}a> <{EX}name> "bad {escape}" .\n')
    with pytest.raises(DataError) as caught:
        load_rdf([_write(tmp_path, "kg.nt", text)], [])
    assert caught.value.line == 3 and "malformed N-Triples statement" in str(caught.value)
    problems = Problems("skip")
    assert len(load_rdf([_write(tmp_path, "kg.nt", text)], [], problems=problems)) == 1 and problems.skipped == 1


def test_skipping_drops_and_counts_malformed_lines(tmp_path):
    lines = NTRIPLES.splitlines(keepends=True)
    lines[2] = "this is not a triple\n"
    problems = Problems("skip")
    kg = load_rdf([_write(tmp_path, "kg.nt", "".join(lines))], ITEMS, problems=problems)
    assert problems.skipped == 1 and "line 3" in problems.examples[0]
    assert (EX + "movie/1", EX + "director", EX + "person/alice") not in _edges(kg)
    assert len(kg) == 4


def test_a_byte_order_mark_is_no_part_of_a_turtle_file(tmp_path):
    text = PREFIXES + f'<{EX}a> ex:p <{EX}b> .\n'
    with_mark = load_rdf([_write(tmp_path, "mark.ttl", "\ufeff" + text)], [])
    assert _comparable(with_mark) == _comparable(load_rdf([_write(tmp_path, "plain.ttl", text)], [])) and len(with_mark)
    assert len(load_rdf([_write(tmp_path, "only.ttl", "\ufeff")], [])) == 0


def test_a_turtle_syntax_error_is_named(tmp_path):
    text = PREFIXES + f'<{EX}a> ex:p <{EX}b> .\n<{EX}a> ex:p "unterminated .\n'
    with pytest.raises(DataError) as caught:
        load_rdf([_write(tmp_path, "kg.ttl", text)], [])
    assert caught.value.line == PREFIXES.count("\n") + 2


@pytest.mark.parametrize("statement", [f"<< <{EX}a> ex:p <{EX}b> >> ex:source <{EX}c> .",
                                       f"<{EX}c> ex:says <<( <{EX}a> ex:p <{EX}b> )>> ."])
def test_rdf_star_triple_terms_are_refused_by_name(tmp_path, statement):
    text = PREFIXES + f'<{EX}a> ex:p "a << b" .\n' + statement + "\n"
    with pytest.raises(DataError, match="RDF-star triple terms are not supported"):
        load_rdf([_write(tmp_path, "kg.ttl", text)], [])
    assert load_rdf([_write(tmp_path, "plain.ttl", PREFIXES + f'<{EX}a> ex:p "a << b" .\n')], []).triples.size == 0


def test_an_rdf_xml_error_is_named(tmp_path):
    text = RDF_XML.replace("</rdf:Description>\n  <rdf:Description rdf:about", "\n  <rdf:Description rdf:about", 1)
    with pytest.raises(DataError) as caught:
        load_rdf([_write(tmp_path, "kg.rdf", text)], [])
    assert caught.value.line == text[:text.index(EX + "movie/2")].count("\n") + 1  # where the bad element starts


def test_bytes_that_are_not_utf8_are_named(tmp_path):
    data = NTRIPLES.encode().replace("Komödie".encode(), b"Kom\xf6die")
    with pytest.raises(DataError) as caught:
        load_rdf([_write(tmp_path, "kg.nt", data)], ITEMS)
    assert caught.value.line == 8 and "UTF-8" in str(caught.value)


REMOTE_CONTEXTS = ['"https://schema.org/"', '["https://example.org/context.jsonld", {"ex": "http://e/"}]',
                   '{"@import": "https://example.org/context.jsonld"}']


@pytest.mark.parametrize("context", REMOTE_CONTEXTS)
def test_json_ld_never_fetches_a_remote_context(tmp_path, monkeypatch, context):
    def no_network(*args, **kwargs):
        raise AssertionError("the loader tried to reach the network")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    text = f'{{\n  "@context": {context},\n  "@id": "http://e/a", "name": "A"\n}}\n'
    with pytest.raises(DataError) as caught:
        load_rdf([_write(tmp_path, "kg.jsonld", text)], [])
    assert caught.value.line == 2 and "fetched" in str(caught.value)


def test_an_empty_file_gives_an_empty_graph_and_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="kgrec.data.rdf"):
        kg = load_rdf([_write(tmp_path, "kg.nt", "")], ITEMS)
    assert len(kg) == 0 and kg.entities == [] and kg.item_entity.tolist() == [-1] * len(ITEMS)
    assert "no triples" in caplog.text


def test_an_unknown_extension_asks_for_the_format(tmp_path):
    path = _write(tmp_path, "kg.data", NTRIPLES)
    with pytest.raises(DataError, match="format"):
        load_rdf([path], ITEMS)
    assert _comparable(load_rdf([path], ITEMS, format="nt")) == _comparable(
        load_rdf([_write(tmp_path, "kg.nt", NTRIPLES)], ITEMS))


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_rdf([tmp_path / "absent.nt"], [])
