"""Shared fixtures: the real catalog, a real embedded store holding the demo layers in a
temporary directory, and an HTTP client on the real app."""

from __future__ import annotations

import os
from pathlib import Path

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


@pytest.fixture(scope="session")
def wu_river_site(demo_layer):
    """site(target_m) → (lon, lat, expected shoreline distance) for a point inside 武隆区 whose
    geodesic distance to the 乌江 shoreline is target_m (±3 %), found on the demo river."""
    rivers = demo_layer("rivers")
    wu = rivers[rivers["name"] == "乌江"]
    line = shapely.line_merge(shapely.union_all(wu.geometry.to_numpy()))
    half = float(wu["half_width_m"].max())
    districts = demo_layer("districts")
    wulong = districts[districts["code"] == "500156"].geometry.iloc[0]

    def site(target_m: float, anchor=WULONG_TOWN):
        for dx in (0.0, -0.03, 0.03, -0.06, 0.06):
            for side in (1, -1):
                lon, lat = site_beside(line, (anchor[0] + dx, anchor[1]), target_m + half, side)
                expected = geodesic_distance(lon, lat, line) - half
                if wulong.contains(shapely.Point(lon, lat)) and abs(expected / target_m - 1) < 0.03:
                    return lon, lat, expected
        raise AssertionError(f"no site {target_m} m from the Wu River near {anchor}")

    return site
