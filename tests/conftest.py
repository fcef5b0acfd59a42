"""Shared test fixtures: paths to the real datasets in ../shared (tests skip cleanly without them)."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"


def _dataset_dir(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return path


@pytest.fixture(scope="session")
def ml100k_bundle() -> Path:
    return _dataset_dir("ml-100k", "bundle")


@pytest.fixture(scope="session")
def mlsmall_bundle() -> Path:
    return _dataset_dir("ml-latest-small", "bundle")


@pytest.fixture(scope="session")
def ml100k_raw() -> Path:
    return _dataset_dir("ml-100k", "raw")


@pytest.fixture(scope="session")
def mlsmall_raw() -> Path:
    return _dataset_dir("ml-latest-small", "raw")


@pytest.fixture(scope="session")
def ml100k_500(ml100k_bundle):
    """The ml-100k bundle cut to its first 500 items: kgrec trains on it in seconds."""
    from kgrec.data.bundle import load_bundle
    from slices import first_items

    return first_items(load_bundle(ml100k_bundle), 500)


@pytest.fixture(scope="session")
def ml100k_500_text(ml100k_500, tmp_path_factory):
    """Text features of that slice (the text encoder runs once per test session)."""
    from kgrec.text.cache import EmbeddingCache
    from kgrec.text.encoder import TextEncoder
    from kgrec.text.features import node_text_features

    return node_text_features(ml100k_500, TextEncoder(), EmbeddingCache(tmp_path_factory.mktemp("cache")))
