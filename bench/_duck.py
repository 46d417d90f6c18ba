"""DuckDB with its spatial extension, loaded offline from the ``duckdb-extension-spatial`` wheel.

That wheel (PyPI, pinned in the ``bench`` extra beside the matching ``duckdb``) ships the
extension binary at ``duckdb_extension_spatial/extensions/v<duckdb version>/spatial.duckdb_extension``
and nothing else (an empty ``__init__``); ``LOAD '<that path>'`` loads it into a connection, with
autoinstall/autoload off so DuckDB never tries extensions.duckdb.org."""

from __future__ import annotations

from pathlib import Path


class DuckDBUnavailable(RuntimeError):
    """DuckDB or its spatial extension cannot be loaded here; the message says why."""


def spatial_extension_path() -> Path:
    try:
        import duckdb
        import duckdb_extension_spatial
    except ImportError as e:
        raise DuckDBUnavailable(f"{e.name} is not installed (pip install -e '.[bench]')") from None
    path = Path(duckdb_extension_spatial.__file__).parent / "extensions" / f"v{duckdb.__version__}" / "spatial.duckdb_extension"
    if not path.is_file():
        found = sorted(p.parent.name for p in Path(duckdb_extension_spatial.__file__).parent.glob("extensions/*/*"))
        raise DuckDBUnavailable(f"no spatial extension for duckdb {duckdb.__version__} in the wheel (it has {found}); "
                                "install the matching pair from the bench extra")
    return path


def connect(threads: int | None = None):
    """An in-memory DuckDB connection with spatial loaded."""
    import duckdb

    path = spatial_extension_path()
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    try:
        con.execute(f"LOAD '{path}'")
    except duckdb.Error as e:
        raise DuckDBUnavailable(f"LOAD {path.name} failed: {e}") from None
    con.execute("SET enable_progress_bar = false")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


def versions(con) -> str:
    import duckdb

    ext = con.execute("SELECT extension_version FROM duckdb_extensions() WHERE extension_name = 'spatial'").fetchone()
    return f"duckdb {duckdb.__version__} (spatial {ext[0] if ext else '?'}, from duckdb-extension-spatial wheel)"
