"""Layer kinds and their attributes, as fixed by the public contract.

Rules find features through a kind and attribute values; uploads of a kind must carry
the required attributes. Attribute values that are enumerations are listed so that a
rule filter or an upload with a misspelt value is caught.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LayerKind:
    code: str
    zh: str
    geometry: tuple[str, ...]  # "point", "line", "polygon", "raster"
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    enums: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def attributes(self) -> tuple[str, ...]:
        return self.required + self.optional


_PROTECTED_CATEGORIES = (
    "nature_reserve", "forest_park", "scenic_area", "geopark", "wetland_park", "world_heritage", "germplasm_reserve",
)

LAYER_KINDS: dict[str, LayerKind] = {
    k.code: k
    for k in [
        LayerKind("district", "行政区", ("polygon",), ("code", "name")),
        LayerKind(
            "river", "河流（岸线）", ("line", "polygon"), ("name", "river_class"), ("half_width_m", "reach"),
            {"river_class": ("mainstem", "major_tributary", "tributary"), "reach": ("urban", "rural")},
        ),
        LayerKind("red_line", "生态保护红线", ("polygon",), (), ("name",)),
        LayerKind(
            "protected_area", "自然保护地", ("polygon",), ("name", "category", "level"), ("zone",),
            {
                "category": _PROTECTED_CATEGORIES,
                "level": ("national", "municipal", "county"),
                "zone": ("core", "buffer", "experimental", "general"),
            },
        ),
        LayerKind(
            "water_source", "饮用水水源保护区", ("polygon",), ("name", "zone_class"), (),
            {"zone_class": ("first", "second", "quasi")},
        ),
        LayerKind(
            "mine_restoration", "矿山生态修复", ("point", "polygon"), ("name",), ("status", "area_ha"),
            {"status": ("planned", "in_progress", "restored")},
        ),
        LayerKind("tailings_pond", "尾矿库", ("point", "polygon"), ("name",), ("outlet_bearing_deg",)),
        LayerKind("industrial_park", "工业园区", ("polygon",), ("name",)),
        LayerKind(
            "control_unit", "环境管控单元（三线一单）", ("polygon",), ("code", "unit_class"), ("access_list",),
            {"unit_class": ("priority", "key", "general")},
        ),
        LayerKind(
            "sensitive_site", "环境敏感目标", ("point", "polygon"), ("name", "category"), (),
            {"category": ("school", "hospital", "residential", "museum", "library", "heritage")},
        ),
        LayerKind(
            "mountain_zone", "山体管控区", ("polygon",), ("name", "zone_class"), (),
            {"zone_class": ("no_build", "key_control", "general")},
        ),
        LayerKind("ecological_space", "生态空间（红线外）", ("polygon",), (), ("name",)),
        LayerKind(
            "geohazard_zone", "地质灾害危险区/易发区", ("polygon",), ("hazard",), ("grade", "name"),
            {"hazard": ("collapse", "landslide", "debris_flow", "other"), "grade": ("danger", "prone")},
        ),
        LayerKind(
            "noise_zone", "声环境功能区", ("polygon",), ("noise_class",), ("name",),
            {"noise_class": ("0", "1", "2", "3", "4a", "4b")},
        ),
        LayerKind(
            "settlement", "人口聚集区/城镇建成区", ("polygon",), ("name",), ("settlement_class",),
            {"settlement_class": ("built_up", "population_cluster")},
        ),
        LayerKind(
            "livestock_zone", "畜禽养殖禁养区/限养区", ("polygon",), ("zone_class",), ("name",),
            {"zone_class": ("no_farming", "limited", "suitable")},
        ),
        # A river basin (流域) as a polygon: Yubei bans high-risk, high-pollution industry in the
        # basins of its cross-border rivers (跨界河流流域).
        LayerKind(
            "river_basin", "流域", ("polygon",), ("name",), ("cross_border",),
            {"cross_border": ("yes", "no")},
        ),
        LayerKind("fuel_ban_zone", "高污染燃料禁燃区", ("polygon",), (), ("name",)),
        LayerKind("fireworks_zone", "烟花爆竹禁放区", ("polygon",), (), ("name",)),
        LayerKind(
            "forest_land", "林地（保护等级）", ("polygon",), (), ("protection_grade", "name"),
            {"protection_grade": ("1", "2", "3", "4")},
        ),
        LayerKind("basic_farmland", "永久基本农田", ("polygon",), (), ("name",)),
        LayerKind("urban_boundary", "城镇开发边界", ("polygon",), (), ("name",)),
        LayerKind(
            "contaminated_site", "污染地块", ("point", "polygon"), ("name",), ("status", "area_ha"),
            {"status": ("suspected", "confirmed", "remediated")},
        ),
        LayerKind("drawdown_zone", "消落带", ("polygon",), (), ("name",)),
        LayerKind("barrier_zone", "生态屏障区", ("polygon",), (), ("name",)),
        # Derived from a DEM (ecozone.terrain): slope above 25° and 15–25°, for Wuxi's 退耕还林 rule.
        LayerKind(
            "slope_zone", "坡度分区（由 DEM 派生）", ("polygon",), ("slope_class",), ("name",),
            {"slope_class": ("gt25", "15_25")},
        ),
        LayerKind("raster", "栅格（DEM、土地覆盖…）", ("raster",), (), ("description", "units")),
    ]
}
