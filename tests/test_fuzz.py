"""Property-based tests: whatever bytes a data file or a config holds, kgrec either loads it or raises its own
KgrecError (DataError for data: naming the file and a line that exists); never another exception. Config
errors stop a run before it reads any data."""

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from kgrec.cli.train import CONFIG_DIR
from kgrec.data.bundle import load_bundle
from kgrec.data.dataset import Dataset, KnowledgeGraph
from kgrec.data.problems import Problems
from kgrec.data.raw import load_tables
from kgrec.data.rdf import load_rdf, read_triples
from kgrec.data.tables import Table, read_table
from kgrec.errors import DataError, KgrecError
from kgrec.ingest.fast import read_rows
from kgrec.ingest.vocabulary import Vocabulary
from kgrec.train.experiment import run_experiment
from kgrec.train.loop import TrainerConfig, trainer_config
from test_bundle import bundle  # noqa: F401  (a small consistent slice of the ml-100k bundle, in tmp_path)

# Pieces that parsers trip on: separators, quotes, line ends, a BOM, NUL, RDF punctuation and escapes.
FRAGMENTS = ["1", "7", "a", "42", "-3", "4.5", "nan", "1e400", "", " ", "\t", ",", '"', "'", "\r", "\n", "\r\n",
             "\ufeff", "é", "\x00", "#", "<http://x.org/a>", "<http://x.org/b>", "<>", "_:b1", '"lit"', "@en",
             "^^", "\\u00e9", "\\U0010FFFF", "\\U00110000", "\\uD800", "\\", " .", ".", "<", ">", "@prefix", ";",
             "user_id", "item_id"]
TEXT = st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join)
CONTENT = st.one_of(
    TEXT.map(str.encode),
    st.binary(max_size=60),
    st.tuples(TEXT, st.sampled_from([b"\xff", b"\xe9", b"\xc3", b"\x80"]), TEXT).map(
        lambda parts: parts[0].encode() + parts[1] + parts[2].encode()),
)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def check_error(error: KgrecError, directory: Path) -> None:
    """A DataError names a file in `directory` and, if a line, one that file has (a missing last newline counts;
    Turtle's grammar, and so pyoxigraph, also ends a line at a lone CR)."""
    if isinstance(error, DataError):
        path = Path(error.path)
        assert path.parent == directory, error
        content = path.read_bytes() if path.is_file() else b""
        lines = content.count(b"\n") + content.count(b"\r") + 1 if path.is_file() else 0
        assert error.line is None or 1 <= error.line <= lines, error


def loads_or_refuses(load, path: Path, content: bytes):
    """What `load(path)` returns once `path` holds `content`; None if it raised a KgrecError."""
    path.write_bytes(content)
    try:
        return load(path)
    except KgrecError as error:
        check_error(error, path.parent)
        return None


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(content=CONTENT, name=st.sampled_from(["t.tsv", "t.csv"]), on_error=st.sampled_from(["raise", "skip"]))
def test_any_table_loads_or_raises_a_data_error(scratch, content, name, on_error):
    table = loads_or_refuses(lambda path: read_table(path, ["user_id", "item_id"], ["timestamp"],
                                                     problems=Problems(on_error)), scratch / name, content)
    if table is not None:
        assert isinstance(table, Table)
        assert all(len(column) == len(table) for column in table.columns.values())
        assert table.lines == sorted(set(table.lines)) and all(line > 1 for line in table.lines)


@FUZZ
@given(content=CONTENT, name=st.sampled_from(["g.nt", "g.nq", "g.ttl"]), on_error=st.sampled_from(["raise", "skip"]))
def test_any_rdf_file_loads_or_raises_a_data_error(scratch, content, name, on_error):
    loads_or_refuses(lambda path: read_rows(path, Vocabulary(), problems=Problems(on_error)), scratch / name, content)
    if name != "g.ttl":  # rdflib's line parser, the reference the fast reader is tested against
        loads_or_refuses(lambda path: read_triples(path, problems=Problems(on_error)), scratch / name, content)
    kg = loads_or_refuses(lambda path: load_rdf([path], ["http://x.org/a", None], problems=Problems(on_error)),
                          scratch / name, content)
    assert kg is None or isinstance(kg, KnowledgeGraph) and len(kg.item_entity) == 2


RATINGS = "u,i,r\n1,a,5\n1,b,4\n2,a,5\n"


@FUZZ
@given(content=CONTENT, on_error=st.sampled_from(["raise", "skip"]))
def test_any_item_file_loads_or_raises_a_data_error(scratch, content, on_error):
    (scratch / "ratings.csv").write_text(RATINGS)
    split = {"strategy": "random", "cold_item_share": 0.0, "valid_share": 0.0, "test_share": 0.0}
    data = loads_or_refuses(lambda path: load_tables(
        {"path": "ratings.csv", "user": "u", "item": "i", "rating": "r"},
        {"path": path.name, "id": "item_id", "title": "title"}, None, None, split, name="fuzz", base_dir=scratch,
        on_error=on_error), scratch / "items.csv", content)
    assert data is None or isinstance(data, Dataset) and {"a", "b"} <= set(data.item_ids)


BUNDLE_FILES = ["train.tsv", "valid.tsv", "test.tsv", "test_cold.tsv", "items.tsv", "cold_items.txt", "kg.nt",
                "tags.tsv"]


@FUZZ
@given(name=st.sampled_from(BUNDLE_FILES), line=st.integers(1, 45), text=CONTENT, replace=st.booleans(),
       on_error=st.sampled_from(["raise", "skip"]))
def test_a_bundle_with_any_line_changed_loads_or_raises_a_data_error(bundle, name, line, text, replace,  # noqa: F811
                                                                       on_error):
    with tempfile.TemporaryDirectory() as directory:
        copy = Path(shutil.copytree(bundle, Path(directory) / "b"))
        path = copy / name
        lines = path.read_bytes().split(b"\n") if path.exists() else [b"user_id\titem_id\ttag"]
        position = min(line, len(lines)) - 1
        lines[position: position + replace] = [text]
        content = b"\n".join(lines)
        data = loads_or_refuses(lambda _: load_bundle(copy, on_error=on_error), path, content)
        assert data is None or isinstance(data, Dataset) and len(data.train) > 0


TRAINER_VALUES = st.one_of(st.integers(-3, 10**6), st.floats(allow_nan=True), st.booleans(), st.none(), TEXT,
                           st.lists(st.integers(), max_size=2))


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from([*TrainerConfig.__dataclass_fields__, "epoch", "bogus"]), TRAINER_VALUES,
                       max_size=4))
def test_any_trainer_block_is_accepted_or_named_in_a_kgrec_error(values):
    try:
        config = trainer_config(values)
    except KgrecError as error:
        assert str(error).startswith("trainer.") and "\n" not in str(error)
        return
    assert isinstance(config, TrainerConfig)
    assert all(isinstance(getattr(config, key), type(getattr(TrainerConfig, key))) for key in values)


@pytest.mark.parametrize("overrides, words", [
    (["data=bundle"], "data.path is not set"),
    (["+trainer.epoch=3"], "trainer.epoch (or model.train.epoch): Key 'epoch' is not a trainer option"),
    (["model=bpr", "model.train.lr=fast"], "model.train.lr): Value 'fast'"),
])
def test_a_config_error_stops_the_run_before_any_work(overrides, words, tmp_path):
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        config = OmegaConf.to_container(compose("config", overrides=overrides), resolve=True)
    with pytest.raises(KgrecError) as caught:
        run_experiment(config, tmp_path / "run")
    assert words in str(caught.value)
    assert not any((tmp_path / "run").iterdir())
