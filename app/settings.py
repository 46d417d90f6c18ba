"""Settings from the environment (and a .env file), shared by the CLI and the server."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ECOZONE_", env_file=".env", extra="ignore")

    data_dir: Path = Path("ecozone-data")
    database_url: str | None = None
    # A site is a parcel or a line of parcels, not a province: these bound the work one
    # request can ask for (larger inputs belong to batch screening).
    max_site_vertices: int = 20_000
    max_site_extent_m: float = 100_000.0
