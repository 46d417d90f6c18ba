"""Shared fixtures: the real catalog, a real embedded store holding the demo layers in a
temporary directory, and an HTTP client on the real app."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ecozone.layers.demo import load_demo_layers
from ecozone.layers.store import EmbeddedStore
from ecozone.main import create_app
from ecozone.service import Service
from ecozone.settings import Settings
from ecozone.zoning.catalog import load_catalog

REPO = Path(__file__).resolve().parents[1]


def seeds_dir() -> Path:
    """The five plans (../shared/seeds beside the repo in CI; ECOZONE_SEEDS_DIR overrides)."""
    path = Path(os.environ.get("ECOZONE_SEEDS_DIR", REPO.parent / "shared" / "seeds"))
    if not path.is_dir():
        pytest.fail(f"plan texts not found at {path}; set ECOZONE_SEEDS_DIR", pytrace=False)
    return path


@pytest.fixture(scope="session")
def catalog():
    return load_catalog()


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory) -> EmbeddedStore:
    store = EmbeddedStore(tmp_path_factory.mktemp("demo-store"))
    load_demo_layers(store)
    return store


@pytest.fixture(scope="session")
def demo_service(demo_store, catalog) -> Service:
    return Service(demo_store, catalog)


@pytest.fixture(scope="session")
def client(demo_service, tmp_path_factory) -> TestClient:
    settings = Settings(data_dir=tmp_path_factory.mktemp("unused"))
    return TestClient(create_app(settings, demo_service))
