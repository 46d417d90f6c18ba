"""Errors raised for bad input anywhere in ecozone.

Each carries a stable machine code, a bilingual message and a `detail` saying what was
wrong and where; the app maps them to HTTP status codes in one table (ecozone.errors).
"""

from __future__ import annotations

from typing import Any


class InputError(Exception):
    """Bad input from a user: rejected with a 4xx, never a 500."""

    code = "invalid_input"
    status = 422

    def __init__(self, zh: str, en: str, **detail: Any):
        super().__init__(en)
        self.zh, self.en, self.detail = zh, en, detail


class InvalidGeometry(InputError):
    code = "invalid_geometry"


class UnknownCRS(InputError):
    code = "unknown_crs"


class CoordinatesOutOfRange(InputError):
    code = "coordinates_out_of_range"


class ImplausibleCoordinates(InputError):
    """Numbers valid in the declared CRS that land far from any loaded jurisdiction."""

    code = "coordinates_implausible_for_crs"


class GeometryTooLarge(InputError):
    code = "geometry_too_large"


class UnknownProjectType(InputError):
    code = "unknown_project_type"


class NotFound(InputError):
    code = "not_found"
    status = 404


# --- uploads: reading files (layers.formats) ---------------------------------------------
class UnsupportedFormat(InputError):
    """Not a file we can read as a layer (unknown, corrupt, or a format that cannot hold it)."""

    code = "unsupported_format"


class ShapefileMissing(InputError):
    code = "shapefile_missing"


class ShapefileIncomplete(InputError):
    code = "shapefile_incomplete"


class AmbiguousTable(InputError):
    """Several tables (GeoPackage tables, shapefiles in one zip, KML folders) and none chosen."""

    code = "ambiguous_table"


class UnknownTable(InputError):
    code = "unknown_table"


class UndecodableAttributes(InputError):
    code = "undecodable_attributes"


class CsvWithoutGeometry(InputError):
    code = "csv_without_geometry"


# --- uploads: validation against a layer kind (layers.validate) --------------------------
class UnknownLayerKind(InputError):
    code = "unknown_kind"


class KindFormatMismatch(InputError):
    """A raster file for a vector kind, or a vector file for the raster kind."""

    code = "kind_format_mismatch"


class EmptyLayer(InputError):
    code = "empty_layer"


class MissingAttribute(InputError):
    code = "missing_attribute"


class InvalidAttributeValue(InputError):
    code = "invalid_attribute_value"


class WrongGeometryType(InputError):
    code = "wrong_geometry_type"


class EmptyGeometry(InputError):
    code = "empty_geometry"


class MissingCRS(InputError):
    code = "missing_crs"


class CRSConflict(InputError):
    code = "crs_conflict"


class TooManyFeatures(InputError):
    code = "too_many_features"


class TooManyVertices(InputError):
    code = "too_many_vertices"
