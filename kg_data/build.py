"""Regenerate kgrec's embedded default dataset (kg_data/) from the published ml-latest-small files.

    python kg_data/build.py [--raw DIR] [--out DIR]

The output is byte-for-byte reproducible (gzip with mtime 0 and no file name, Turtle written by hand in
a fixed order) so that a test can compare the committed files with a fresh build. The raw files are
checked strictly: a malformed row stops the build with its file and line instead of vanishing.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Sequence
from urllib.parse import quote

from kgrec.data.tables import Table, read_table
from kgrec.errors import DataError, KgrecError

HERE = Path(__file__).resolve().parent
DEFAULT_RAW = HERE.parents[1] / "shared" / "datasets" / "ml-latest-small" / "raw"

RATING_COLUMNS = ("userId", "movieId", "rating", "timestamp")
MOVIE_COLUMNS = ("movieId", "title", "genres")
TAG_COLUMNS = ("userId", "movieId", "tag")
LINK_COLUMNS = ("movieId", "imdbId", "tmdbId")
NO_GENRES = "(no genres listed)"

PREFIXES = {
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "schema": "http://schema.org/",
    "kgrec": "https://kgrec.dev/ns#",
    "movie": "https://movielens.org/movies/",
    "genre": "https://movielens.org/genres/",
    "interest": "https://kgrec.dev/interest/",
    "tmdb": "https://www.themoviedb.org/movie/",
}
IMDB_TEMPLATE = "http://www.imdb.com/title/tt{}/"

INTEGER = re.compile(r"[0-9]+")
RATING = re.compile(r"[0-9]+(\.[0-9]+)?")
NON_EMPTY = re.compile(r".+", re.DOTALL)
GENRE_LIST = re.compile(r"[^|]+(\|[^|]+)*")
# A local name Turtle accepts after "prefix:" without backslash escapes (quote() only adds %XX).
PLAIN_LOCAL_NAME = re.compile(r"[A-Za-z0-9_%]([A-Za-z0-9_.%-]*[A-Za-z0-9_%-])?")
LITERAL_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def normalise_tag(tag: str) -> str:
    """Tag applications that differ only in case or surrounding spaces are one interest point."""
    return tag.strip().lower()


def interest_iri(tag: str) -> str:
    return PREFIXES["interest"] + quote(normalise_tag(tag), safe="")


def genre_iri(genre: str) -> str:
    return PREFIXES["genre"] + quote(genre, safe="")


def require(table: Table, column: str, pattern: re.Pattern, what: str, allow_empty: bool = False) -> None:
    for value, line in zip(table.columns[column], table.lines):
        if not (pattern.fullmatch(value) or (allow_empty and value == "")):
            raise DataError(table.path, line, f"{column} {value!r} is not {what}")


def require_unique(table: Table, column: str) -> None:
    first_line: dict[str, int] = {}
    for value, line in zip(table.columns[column], table.lines):
        if value in first_line:
            raise DataError(table.path, line, f"{column} {value} repeats line {first_line[value]}")
        first_line[value] = line


def require_known_movies(table: Table, movie_ids: set[str]) -> None:
    for value, line in zip(table.columns["movieId"], table.lines):
        if value not in movie_ids:
            raise DataError(table.path, line, f"movieId {value} is not in movies.csv")


def read_raw(raw: Path) -> dict[str, Table]:
    """The four published tables, each checked so that every id later written is well-formed and known."""
    tables = {
        "movies": read_table(raw / "movies.csv", MOVIE_COLUMNS),
        "ratings": read_table(raw / "ratings.csv", RATING_COLUMNS),
        "tags": read_table(raw / "tags.csv", TAG_COLUMNS, optional=("timestamp",)),
        "links": read_table(raw / "links.csv", LINK_COLUMNS),
    }
    for table in tables.values():
        require(table, "movieId", INTEGER, "an integer id")
    for name in ("ratings", "tags"):
        require(tables[name], "userId", INTEGER, "an integer id")
    require(tables["ratings"], "rating", RATING, "a number")
    require(tables["ratings"], "timestamp", INTEGER, "a Unix time in seconds")
    require(tables["movies"], "title", NON_EMPTY, "a non-empty title")
    require(tables["movies"], "genres", GENRE_LIST, 'a "|"-separated list of genres')
    require(tables["tags"], "tag", NON_EMPTY, "a non-empty tag")
    require(tables["links"], "imdbId", INTEGER, "an integer id", allow_empty=True)
    require(tables["links"], "tmdbId", INTEGER, "an integer id", allow_empty=True)
    require_unique(tables["movies"], "movieId")
    require_unique(tables["links"], "movieId")
    movie_ids = set(tables["movies"].columns["movieId"])
    for name in ("ratings", "tags", "links"):
        require_known_movies(tables[name], movie_ids)
    return tables


def write_bytes(path: Path, data: bytes) -> None:
    """gzip (mtime 0, empty file name) when the name ends in .gz, so that rebuilding gives the same bytes."""
    if path.suffix == ".gz":
        buffer = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=buffer, mtime=0) as handle:
            handle.write(data)
        data = buffer.getvalue()
    path.write_bytes(data)


def write_csv(path: Path, table: Table, columns: Sequence[str]) -> None:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(zip(*(table.columns[column] for column in columns)))
    write_bytes(path, text.getvalue().encode("utf-8"))


def term(iri: str) -> str:
    """The compact Turtle spelling of an IRI: prefix:local when the local name needs no escaping."""
    for prefix, namespace in PREFIXES.items():
        if iri.startswith(namespace) and PLAIN_LOCAL_NAME.fullmatch(iri[len(namespace):]):
            return f"{prefix}:{iri[len(namespace):]}"
    return f"<{iri}>"


def literal(text: str) -> str:
    return '"' + text.translate(LITERAL_ESCAPES) + '"'


def turtle(subjects: dict[str, list[tuple[str, list[str]]]]) -> str:
    """One block per subject, in the given order: `subject p1 o1, o2 ; p2 o3 .` (empty properties left out)."""
    parts = [f"@prefix {prefix}: <{namespace}> ." for prefix, namespace in PREFIXES.items()]
    for subject, properties in subjects.items():
        body = " ;\n    ".join(f"{predicate} {', '.join(objects)}" for predicate, objects in properties if objects)
        parts.append(f"\n{subject} {body} .")
    return "\n".join(parts) + "\n"


def knowledge_graph(tables: dict[str, Table]) -> tuple[str, dict[str, int]]:
    """Movies with label, genres, IMDb/TMDb sameAs links and tag interest points, as Turtle plus counts."""
    movies, links, tags = tables["movies"], tables["links"], tables["tags"]
    genres_of = {movie: sorted(set(genres.split("|")) - {NO_GENRES})
                 for movie, genres in zip(movies.columns["movieId"], movies.columns["genres"])}
    same_as: dict[str, list[str]] = defaultdict(list)
    for movie, imdb, tmdb in zip(*(links.columns[column] for column in LINK_COLUMNS)):
        if imdb:
            same_as[movie].append(term(IMDB_TEMPLATE.format(imdb)))
        if tmdb:
            same_as[movie].append(term(PREFIXES["tmdb"] + tmdb))
    interests_of: dict[str, set[str]] = defaultdict(set)
    for movie, tag in zip(tags.columns["movieId"], tags.columns["tag"]):
        interests_of[movie].add(normalise_tag(tag))

    subjects: dict[str, list[tuple[str, list[str]]]] = {}
    all_genres = sorted({genre for genres in genres_of.values() for genre in genres})
    for genre in all_genres:
        subjects[term(genre_iri(genre))] = [("a", ["skos:Concept"]), ("skos:prefLabel", [literal(genre)])]
    all_interests = sorted({tag for tags_of_movie in interests_of.values() for tag in tags_of_movie})
    for tag in all_interests:
        subjects[term(interest_iri(tag))] = [("a", ["kgrec:InterestPoint"]), ("rdfs:label", [literal(tag)])]
    titles = dict(zip(movies.columns["movieId"], movies.columns["title"]))
    for movie in sorted(titles, key=int):
        subjects[term(PREFIXES["movie"] + movie)] = [
            ("rdfs:label", [literal(titles[movie])]),
            ("schema:genre", [term(genre_iri(genre)) for genre in genres_of[movie]]),
            ("owl:sameAs", same_as[movie]),
            ("kgrec:hasInterest", [term(interest_iri(tag)) for tag in sorted(interests_of[movie])]),
        ]
    counts = {
        "genre concepts": len(all_genres),
        "movie-genre links": sum(len(genres) for genres in genres_of.values()),
        "movies without genres (no schema:genre)": sum(not genres for genres in genres_of.values()),
        "owl:sameAs links": sum(len(links_of_movie) for links_of_movie in same_as.values()),
        "missing IMDb ids (skipped)": links.columns["imdbId"].count(""),
        "missing TMDb ids (skipped)": links.columns["tmdbId"].count(""),
        "interest points": len(all_interests),
        "hasInterest links": sum(len(interests) for interests in interests_of.values()),
    }
    return turtle(subjects), counts


def build(raw: Path, out: Path) -> dict[str, int]:
    """Write ratings.csv.gz, movies.csv, tags.csv and kg.ttl.gz into `out`; return what was written."""
    tables = read_raw(Path(raw))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "ratings.csv.gz", tables["ratings"], RATING_COLUMNS)
    write_csv(out / "movies.csv", tables["movies"], MOVIE_COLUMNS)
    write_csv(out / "tags.csv", tables["tags"], TAG_COLUMNS)
    graph, graph_counts = knowledge_graph(tables)
    write_bytes(out / "kg.ttl.gz", graph.encode("utf-8"))
    counts = {"ratings": len(tables["ratings"]), "movies": len(tables["movies"]), "tag applications": len(tables["tags"])}
    return counts | graph_counts


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, default=DEFAULT_RAW, help="folder with the ml-latest-small CSVs")
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write the dataset into")
    args = parser.parse_args(argv)
    try:
        counts = build(args.raw, args.out)
    except KgrecError as error:
        sys.exit(f"error: {error}")
    for name, count in counts.items():
        print(f"{name}: {count:,}")


if __name__ == "__main__":
    main()
