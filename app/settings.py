"""Settings from the environment (and a .env file), shared by the CLI and the server."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    """The user's data directory (e.g. ~/.local/share/ecozone on Linux,
    ~/Library/Application Support/ecozone on macOS, %LOCALAPPDATA%\\ecozone on Windows), so
    the store does not follow whatever folder a command happens to run in."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("ecozone", appauthor=False))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ECOZONE_", env_file=".env", extra="ignore")

    # ECOZONE_DATA_DIR overrides; the compiled zones are cached in <data_dir>/cache.
    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    # A site is a parcel or a line of parcels, not a province: these bound the work one
    # request can ask for (larger inputs belong to batch screening).
    max_site_vertices: int = 20_000
    max_site_extent_m: float = 100_000.0
    # A site in a projected CRS must land within this many degrees of the loaded jurisdictions'
    # bounds, or it is refused as a likely wrong `crs` (lon/lat numbers sent as EPSG:3857 …).
    plausible_margin_deg: float = 1.0

    # Layer uploads (GIS staff): a request body beyond max_upload_bytes is a 413 before it is
    # read; a layer beyond these counts is a 422 naming the limit.
    max_upload_bytes: int = 1024 * 1024 * 1024
    max_layer_features: int = 2_000_000
    max_layer_vertices: int = 100_000_000
    max_feature_vertices: int = 2_000_000
    # Reads (layers, checks, downloads) are public unless this is set: then every route needs
    # a token of role viewer or above. Writes always need editor or admin.
    private_reads: bool = False
    # Browser origins allowed to call the API from other sites, comma-separated ("" = none).
    cors_origins: str = ""
    # How often each worker asks the store whether another process published (seconds).
    refresh_interval_s: float = 0.5

    # Batch screening (POST /v1/siting/batch, `ecozone screen`): sites per chunk (progress is
    # recorded, and a resumed job restarts, after each), the most features one file may hold;
    # whether this process runs queued jobs (jobs.sqlite in the data dir; off for an API-only
    # worker), how often a running job beats its heartbeat, and after how long without one a
    # job is taken to be abandoned (queued again, or failed if the data changed meanwhile).
    batch_chunk_size: int = Field(50_000, ge=1)
    max_batch_features: int = 5_000_000
    job_runner: bool = True
    job_heartbeat_s: float = 5.0
    job_stale_s: float = 30.0

    # The browser app and folium maps: front-end packages from `npm ci` (node_modules beside the
    # source tree unless set), and the basemap — none by default, so an offline intranet works;
    # "osm" or "tianditu" (with its token) when the network allows.
    assets_dir: Path | None = None
    basemap: str = "none"
    tianditu_token: str = ""

    # Terrain (ecozone.terrain): zones derived from every DEM layer whenever it or a river layer
    # is published. Rivers are chosen by name, comma-separated.
    reservoir_rivers: str = "长江,乌江,大宁河,嘉陵江"  # the Three Gorges reservoir's 消落带 rivers
    drawdown_low_m: float = 145.0
    drawdown_high_m: float = 175.0
    viewshed_rivers: str = "长江,乌江"  # 涪陵: 「划定长江及乌江两侧可视范围为生态屏障区」
    viewshed_observer_height_m: float = 1.7
    viewshed_max_distance_m: float = 5000.0

    @staticmethod
    def names(text: str) -> list[str]:
        return [n.strip() for n in text.replace("，", ",").split(",") if n.strip()]

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]
