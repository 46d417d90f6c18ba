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


class NotAvailable(InputError):
    """A contract endpoint this version does not serve yet (said plainly, not faked)."""

    code = "not_available"
    status = 501
