"""The embedded default dataset kg_data/: rebuilt byte for byte from the raw ml-latest-small files, and complete.

Expected counts are computed here from the raw CSVs with the csv module, independently of kg_data/build.py.
"""

import csv
import gzip
import importlib.util
import io
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
import rdflib
from rdflib.namespace import OWL, RDF, RDFS, SKOS

from kgrec.errors import DataError

KG_DATA = Path(__file__).resolve().parents[1] / "kg_data"
FILES = {"ratings.csv.gz", "movies.csv", "tags.csv", "kg.ttl.gz"}
INTEREST_POINT = rdflib.URIRef("https://kgrec.dev/ns#InterestPoint")
HAS_INTEREST = rdflib.URIRef("https://kgrec.dev/ns#hasInterest")
GENRE = rdflib.URIRef("http://schema.org/genre")


def movie(movie_id: str) -> rdflib.URIRef:
    return rdflib.URIRef(f"https://movielens.org/movies/{movie_id}")


def interest(tag: str) -> rdflib.URIRef:
    return rdflib.URIRef("https://kgrec.dev/interest/" + quote(tag.strip().lower(), safe=""))


def read_csv(path: Path) -> list[dict[str, str]]:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def parse_turtle(path: Path) -> rdflib.Graph:
    graph = rdflib.Graph()
    graph.parse(data=gzip.decompress(path.read_bytes()).decode("utf-8"), format="turtle")
    return graph


@pytest.fixture(scope="module")
def build():
    spec = importlib.util.spec_from_file_location("kg_data_build", KG_DATA / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build


@pytest.fixture(scope="module")
def graph() -> rdflib.Graph:
    return parse_turtle(KG_DATA / "kg.ttl.gz")


def test_committed_files_are_exactly_what_build_writes(mlsmall_raw, tmp_path):
    command = [sys.executable, str(KG_DATA / "build.py"), "--raw", str(mlsmall_raw), "--out", str(tmp_path)]
    subprocess.run(command, check=True, capture_output=True)
    assert {path.name for path in tmp_path.iterdir()} == FILES
    for name in sorted(FILES):
        assert content(tmp_path / name) == content(KG_DATA / name), f"kg_data/{name} is stale"


def content(path: Path) -> bytes:
    """A file's bytes, decompressed for .gz (another zlib build may compress the same bytes differently)."""
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def test_ratings_keep_every_raw_rating(mlsmall_raw):
    raw = read_csv(mlsmall_raw / "ratings.csv")
    shipped = read_csv(KG_DATA / "ratings.csv.gz")
    assert len(shipped) == len(raw)
    assert shipped == raw


def test_tags_keep_every_tag_application(mlsmall_raw):
    raw = [{"userId": row["userId"], "movieId": row["movieId"], "tag": row["tag"].strip()}
           for row in read_csv(mlsmall_raw / "tags.csv")]
    assert read_csv(KG_DATA / "tags.csv") == raw


def test_every_movie_has_its_title_as_label(graph, mlsmall_raw):
    movies = read_csv(mlsmall_raw / "movies.csv")
    labels = {subject: str(label) for subject, label in graph.subject_objects(RDFS.label)
              if subject.startswith("https://movielens.org/movies/")}
    assert len(labels) == len(movies)
    assert labels == {movie(row["movieId"]): row["title"].strip() for row in movies}


def test_genres_are_concepts_linked_from_their_movies(graph, mlsmall_raw):
    movies = read_csv(mlsmall_raw / "movies.csv")
    links = {(movie(row["movieId"]), genre) for row in movies for genre in row["genres"].split("|")
             if genre != "(no genres listed)"}
    concepts = {rdflib.URIRef("https://movielens.org/genres/" + quote(genre)) for _, genre in links}
    assert set(graph.subjects(RDF.type, SKOS.Concept)) == concepts
    assert {str(label) for label in graph.objects(None, SKOS.prefLabel)} == {genre for _, genre in links}
    expected = {(subject, rdflib.URIRef("https://movielens.org/genres/" + genre)) for subject, genre in links}
    assert set(graph.subject_objects(GENRE)) == expected


def test_same_as_links_every_known_imdb_and_tmdb_id(graph, mlsmall_raw):
    expected = set()
    for row in read_csv(mlsmall_raw / "links.csv"):
        if row["imdbId"]:
            expected.add((movie(row["movieId"]), rdflib.URIRef(f"http://www.imdb.com/title/tt{row['imdbId']}/")))
        if row["tmdbId"]:
            expected.add((movie(row["movieId"]), rdflib.URIRef(f"https://www.themoviedb.org/movie/{row['tmdbId']}")))
    assert len(list(graph.subject_objects(OWL.sameAs))) == len(expected)
    assert set(graph.subject_objects(OWL.sameAs)) == expected


def test_interest_points_are_the_distinct_normalised_tags(graph, mlsmall_raw):
    tags = read_csv(mlsmall_raw / "tags.csv")
    names = {row["tag"].strip().lower() for row in tags}
    points = set(graph.subjects(RDF.type, INTEREST_POINT))
    assert len(points) == len(names)
    assert {(point, str(graph.value(point, RDFS.label))) for point in points} == {(interest(n), n) for n in names}
    assert set(graph.subject_objects(HAS_INTEREST)) == {(movie(row["movieId"]), interest(row["tag"])) for row in tags}


def write_raw(folder: Path, ratings: str, movies: str, tags: str, links: str) -> Path:
    folder.mkdir(exist_ok=True)
    for name, text in {"ratings": ratings, "movies": movies, "tags": tags, "links": links}.items():
        (folder / f"{name}.csv").write_text(text, encoding="utf-8")
    return folder


MOVIES = ('movieId,title,genres\n'
          '1,"Rock \\ Roll ""Live"" – Très bien (1999)",Comedy|Sci-Fi\n'
          '2,Untitled (2001),(no genres listed)\n')
RATINGS = "userId,movieId,rating,timestamp\n7,1,4.5,964982703\n7,2,1.0,964982704\n"
TAGS = "userId,movieId,tag,timestamp\n7,1, Dr. Strange~ ,1\n8,1,dr. strange~,2\n8,2,L.A.,3\n"
LINKS = "movieId,imdbId,tmdbId\n1,0114709,862\n2,0113497,\n"


def test_tricky_text_round_trips_through_turtle_and_rebuilds_identically(build, tmp_path):
    raw = write_raw(tmp_path / "raw", RATINGS, MOVIES, TAGS, LINKS)
    counts = build(raw, tmp_path / "a")
    build(raw, tmp_path / "b")
    for name in FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    graph = parse_turtle(tmp_path / "a" / "kg.ttl.gz")
    assert str(graph.value(movie("1"), RDFS.label)) == 'Rock \\ Roll "Live" – Très bien (1999)'
    assert set(graph.objects(movie("1"), HAS_INTEREST)) == {interest("dr. strange~")}
    assert set(graph.objects(movie("2"), HAS_INTEREST)) == {interest("l.a.")}
    assert set(graph.objects(movie("2"), GENRE)) == set()
    assert set(graph.objects(movie("2"), OWL.sameAs)) == {rdflib.URIRef("http://www.imdb.com/title/tt0113497/")}
    assert counts["interest points"] == 2
    assert counts["missing TMDb ids (skipped)"] == 1
    assert counts["movies without genres (no schema:genre)"] == 1


@pytest.mark.parametrize("file, text, line, problem", [
    ("ratings", RATINGS + "9,3,4.0,964982705\n", 4, "movieId 3 is not in movies.csv"),
    ("ratings", RATINGS.replace("4.5", "four"), 2, "rating 'four' is not a number"),
    ("tags", TAGS.replace("L.A.", " "), 4, "tag '' is not a non-empty tag"),
    ("movies", MOVIES + "1,Again (2002),Drama\n", 4, "movieId 1 repeats line 2"),
    ("links", LINKS.replace("0113497", "tt0113497"), 3, "imdbId 'tt0113497' is not an integer id"),
])
def test_bad_raw_rows_stop_the_build_with_file_and_line(build, tmp_path, file, text, line, problem):
    files = {"ratings": RATINGS, "movies": MOVIES, "tags": TAGS, "links": LINKS} | {file: text}
    raw = write_raw(tmp_path / "raw", **files)
    with pytest.raises(DataError) as error:
        build(raw, tmp_path / "out")
    assert (Path(error.value.path).name, error.value.line, error.value.problem) == (f"{file}.csv", line, problem)
    assert not (tmp_path / "out").exists()
