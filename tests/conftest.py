"""Shared fixtures: the real catalog, a real embedded store holding the demo layers in a
temporary directory, and an HTTP client on the real app."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient

from ecozone.layers.demo import load_demo_layers
from ecozone.layers.store import EmbeddedStore
from ecozone.main import create_app
from ecozone.service import Service
from ecozone.settings import Settings
from ecozone.zoning.catalog import load_catalog
from geo import geodesic_distance, site_beside

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


# --- sites near the demo Wu River at Wulong ---------------------------------------------
WULONG_TOWN = (107.76, 29.33)


@pytest.fixture(scope="session")
def demo_layer():
    from ecozone.layers.demo import read_demo_layer

    cache: dict = {}

    def get(layer_id: str):
        if layer_id not in cache:
            cache[layer_id] = read_demo_layer(layer_id)
        return cache[layer_id]

    return get


def shoreline_distance(lon: float, lat: float, rivers) -> float:
    """Geodesic distance to the nearest shoreline among river features (centreline less half width)."""
    return min(geodesic_distance(lon, lat, g) - float(hw or 0) for g, hw in zip(rivers.geometry, rivers["half_width_m"]))


@pytest.fixture(scope="session")
def river_site(demo_layer):
    """river_site(names, district_code, target_m, **filters) → (lon, lat, expected): a point inside
    the district whose geodesic distance to the nearest shoreline of the named rivers is
    target_m (±3 %); anchors are tried along the rivers, on both banks."""
    districts = demo_layer("districts")

    def site(names, code: str, target_m: float, start=None, **filters):
        rivers = demo_layer("rivers")
        rivers = rivers[rivers["name"].isin(names)]
        for attr, value in filters.items():
            rivers = rivers[rivers[attr] == value]
        district = districts[districts["code"] == code].geometry.iloc[0]
        line = shapely.line_merge(shapely.union_all(rivers.geometry.to_numpy()))
        hw = float(rivers["half_width_m"].max())
        lines = list(getattr(line, "geoms", [line]))
        anchors = [ln.interpolate(f) for ln in lines for f in np.linspace(0, ln.length, max(int(ln.length / 0.01), 2))]
        if start is not None:
            anchors.sort(key=lambda p: p.distance(shapely.Point(start)))
        for a in anchors:
            for side in (1, -1):
                lon, lat = site_beside(line, (a.x, a.y), target_m + hw, side)
                if not district.contains(shapely.Point(lon, lat)):
                    continue
                expected = shoreline_distance(lon, lat, rivers)
                if abs(expected / target_m - 1) < 0.03:
                    return lon, lat, expected
        raise AssertionError(f"no site {target_m} m from {names} in {code}")

    return site


@pytest.fixture(scope="session")
def wu_river_site(river_site):
    """A site inside 武隆区 at a given distance from the 乌江 shoreline, near Wulong town."""
    return lambda target_m: river_site(["乌江"], "500156", target_m, start=WULONG_TOWN)


# --- PostgreSQL + PostGIS: one throwaway cluster per session (tests/pgserver.py) ----------
@pytest.fixture(scope="session")
def _pg_server():
    """A PostgreSQL 15 cluster in a temporary directory; a missing PostgreSQL/PostGIS fails
    the tests that need it (never skips: CI installs them)."""
    from pgserver import PostgresUnavailable, start_server

    try:
        server = start_server()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_url(_pg_server) -> str:
    """postgresql://postgres@127.0.0.1:PORT/ecozone on the session's cluster."""
    return _pg_server.url


@pytest.fixture
def pg_database_url(_pg_server):
    """A fresh, empty database (CREATE DATABASE … TEMPLATE template0) for one test, dropped after it."""
    name, url = _pg_server.create_database()
    yield url
    _pg_server.drop_database(name)
