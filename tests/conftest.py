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
