"""OGC API – Features (Part 1 Core + GeoJSON, Part 2 CRS) over the collections — every published
layer and every rule's compiled zones — as a small router factory (TiPg's OGCFeaturesFactory is
the model). GDAL's OAPIF driver, QGIS and owslib read it."""

from __future__ import annotations

import copy
import math
from datetime import datetime, timezone
from functools import lru_cache
from urllib.parse import urlencode

import numpy as np
import shapely
import shapely.geometry
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pyproj import CRS, Transformer

from ecozone.collections import Collection, Collections
from ecozone.deps import get_service
from ecozone.layers.errors import InputError, NotFound
from ecozone.service import Service

GEOJSON = "application/geo+json"
JSON = "application/json"
OPENAPI_30 = "application/vnd.oai.openapi+json;version=3.0"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
# Output CRSs (Part 2): lon/lat, and CGCS2000 geographic and Gauss-Kruger. EPSG:4326 and 4490 are
# in their authority's axis order (latitude first), as Part 2 requires.
SUPPORTED_CRS = [CRS84] + [f"http://www.opengis.net/def/crs/EPSG/0/{c}" for c in (4326, 4490, 4545)]
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
]
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000


class InvalidParameter(InputError):
    code = "InvalidParameterValue"
    status = 400


def _crs_uri(value: str | None, name: str) -> str:
    if value is None:
        return CRS84
    uri = value.strip().strip("[]")
    if uri not in SUPPORTED_CRS:
        raise InvalidParameter(f"不支持的 {name}：{value}；可用 {', '.join(SUPPORTED_CRS)}",
                               f"Unsupported {name} {value!r}; use one of {', '.join(SUPPORTED_CRS)}",
                               where=name, value=value, allowed=SUPPORTED_CRS)
    return uri


@lru_cache(maxsize=8)
def _transformer(src: str, dst: str) -> Transformer:
    def crs(uri: str) -> CRS:
        return CRS.from_user_input("OGC:CRS84" if uri == CRS84 else "EPSG:" + uri.rsplit("/", 1)[1])

    return Transformer.from_crs(crs(src), crs(dst))  # authority axis order on both sides


def _to_crs(geoms: np.ndarray, uri: str) -> np.ndarray:
    if uri == CRS84:
        return geoms
    t = _transformer(CRS84, uri)
    return shapely.transform(geoms, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def _bbox(value: str | None, bbox_crs: str | None) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    try:
        nums = [float(v) for v in value.split(",")]
    except ValueError:
        nums = []
    if len(nums) not in (4, 6) or not all(math.isfinite(v) for v in nums):
        raise InvalidParameter("bbox 须为 4 个数：minx,miny,maxx,maxy", "bbox must be four numbers: minx,miny,maxx,maxy",
                               where="bbox", value=value)
    if len(nums) == 6:  # minx, miny, minz, maxx, maxy, maxz
        nums = [nums[0], nums[1], nums[3], nums[4]]
    uri = _crs_uri(bbox_crs, "bbox-crs")
    if uri != CRS84:
        t = _transformer(uri, CRS84)
        nums = list(t.transform_bounds(*nums, densify_pts=21))
    return tuple(nums)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _collection_json(c: Collection, base: str) -> dict:
    url = f"{base}/ogc/collections/{c.id}"
    return {
        "id": c.id,
        "title": c.title["zh"],
        "description": c.description["zh"],
        "itemType": "feature",
        "extent": {"spatial": {"bbox": [c.bbox], "crs": CRS84}},
        "crs": SUPPORTED_CRS,
        "storageCrs": CRS84,
        "links": [
            {"rel": "self", "type": JSON, "title": "this collection", "href": url},
            {"rel": "items", "type": GEOJSON, "title": "items", "href": f"{url}/items"},
        ],
        "ecozone:kind": c.kind,
        "ecozone:featureCount": c.feature_count,
        "ecozone:title_en": c.title["en"],
    }


def _feature(fid: str, props: dict, geometry: dict | None, base: str, collection_id: str) -> dict:
    return {
        "type": "Feature", "id": fid, "geometry": geometry, "properties": props,
        "links": [{"rel": "self", "type": GEOJSON, "href": f"{base}/ogc/collections/{collection_id}/items/{fid}"}],
    }


def _features_json(frame, base: str, collection_id: str, uri: str) -> list[dict]:
    if not len(frame):
        return []
    geoms = _to_crs(frame.geometry.to_numpy(), uri)
    geojson = [None if g is None else shapely.geometry.mapping(g) for g in geoms]
    columns = [c for c in frame.columns if c not in (frame.geometry.name, "feature_id")]
    records = frame[columns].astype(object).where(frame[columns].notna(), None).to_dict("records")
    return [_feature(str(fid), props, geom, base, collection_id)
            for fid, props, geom in zip(frame["feature_id"], records, geojson)]


def _geojson_response(body: dict, uri: str) -> JSONResponse:
    return JSONResponse(body, media_type=GEOJSON, headers={"Content-Crs": f"<{uri}>"})


def ogc_features_router(prefix: str = "/ogc") -> APIRouter:
    """The OGC API – Features routes; collections come from the service (see Collections)."""
    router = APIRouter(prefix=prefix, tags=["OGC API – Features"])

    def collections(service: Service = Depends(get_service)) -> Collections:
        return Collections(service)

    @router.get("", summary="Landing page")
    def landing(request: Request) -> dict:
        base = _base(request)
        return {
            "title": "ecozone — 重庆生态环境分区管控 OGC API – Features",
            "description": "Published layers and the compiled zones of every rule (每条规则的管控范围).",
            "links": [
                {"rel": "self", "type": JSON, "title": "this document", "href": f"{base}{prefix}"},
                {"rel": "service-desc", "type": OPENAPI_30, "title": "the API definition", "href": f"{base}{prefix}/api"},
                {"rel": "conformance", "type": JSON, "title": "conformance classes", "href": f"{base}{prefix}/conformance"},
                {"rel": "data", "type": JSON, "title": "collections", "href": f"{base}{prefix}/collections"},
            ],
        }

    @router.get("/conformance", summary="Conformance classes")
    def conformance() -> dict:
        return {"conformsTo": CONFORMANCE}

    @router.get("/collections", summary="Collections: every layer and every rule's zones")
    def list_collections(request: Request, cols: Collections = Depends(collections)) -> dict:
        base = _base(request)
        return {
            "links": [{"rel": "self", "type": JSON, "href": f"{base}{prefix}/collections"}],
            "collections": [_collection_json(c, base) for c in cols.all()],
        }

    @router.get("/collections/{collection_id}", summary="One collection")
    def get_collection(collection_id: str, request: Request, cols: Collections = Depends(collections)) -> dict:
        return _collection_json(cols.get(collection_id), _base(request))

    @router.get("/collections/{collection_id}/items", summary="Features", response_class=JSONResponse)
    def items(
        collection_id: str,
        request: Request,
        bbox: str | None = Query(None, description="minx,miny,maxx,maxy (in bbox-crs, default CRS84)"),
        bbox_crs: str | None = Query(None, alias="bbox-crs"),
        crs: str | None = Query(None, description="output CRS: " + ", ".join(SUPPORTED_CRS)),
        # No ge/le here: OGC API – Features wants a 400 for a bad value (FastAPI would give 422)
        # and a larger limit clamped, not refused; the schema still says 1..MAX_LIMIT.
        limit: int = Query(DEFAULT_LIMIT, description=f"clamped to {MAX_LIMIT}",
                           json_schema_extra={"minimum": 1, "maximum": MAX_LIMIT}),
        offset: int = Query(0, json_schema_extra={"minimum": 0}),
        cols: Collections = Depends(collections),
    ) -> JSONResponse:
        uri = _crs_uri(crs, "crs")
        if limit < 1:
            raise InvalidParameter("limit 须为正整数", "limit must be a positive integer", where="limit", value=limit)
        if offset < 0:
            raise InvalidParameter("offset 须为非负整数", "offset must be a non-negative integer", where="offset",
                                   value=offset)
        limit = min(limit, MAX_LIMIT)
        frame = cols.features(collection_id, _bbox(bbox, bbox_crs))
        page = frame.iloc[offset: offset + limit]
        base = _base(request)
        url = f"{base}{prefix}/collections/{collection_id}/items"

        def link(rel: str, start: int) -> dict:
            params = dict(request.query_params)
            params.update(offset=str(start), limit=str(limit))
            return {"rel": rel, "type": GEOJSON, "href": f"{url}?{urlencode(params)}"}

        links = [link("self", offset), {"rel": "collection", "type": JSON, "href": f"{base}{prefix}/collections/{collection_id}"}]
        if offset + limit < len(frame):
            links.append(link("next", offset + limit))
        if offset > 0:
            links.append(link("prev", max(0, offset - limit)))
        return _geojson_response({
            "type": "FeatureCollection",
            "features": _features_json(page, base, collection_id, uri),
            "numberMatched": int(len(frame)),
            "numberReturned": int(len(page)),
            "timeStamp": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "links": links,
        }, uri)

    @router.get("/collections/{collection_id}/items/{feature_id}", summary="One feature", response_class=JSONResponse)
    def item(collection_id: str, feature_id: str, request: Request, crs: str | None = Query(None),
             cols: Collections = Depends(collections)) -> JSONResponse:
        uri = _crs_uri(crs, "crs")
        frame = cols.features(collection_id)
        match = frame[frame["feature_id"].astype(str) == feature_id]
        if not len(match):
            raise NotFound(f"集合 {collection_id} 中没有要素 {feature_id}",
                           f"No feature {feature_id!r} in collection {collection_id!r}", where="featureId",
                           value=feature_id)
        base = _base(request)
        feature = _features_json(match.iloc[:1], base, collection_id, uri)[0]
        feature["links"].append({"rel": "collection", "type": JSON, "href": f"{base}{prefix}/collections/{collection_id}"})
        return _geojson_response(feature, uri)

    @router.get("/api", summary="The API definition (OpenAPI 3.0)", include_in_schema=False)
    def api(request: Request) -> JSONResponse:
        return JSONResponse(openapi_30(request.app, prefix), media_type=OPENAPI_30)

    return router


def openapi_30(app: FastAPI, prefix: str) -> dict:
    """The OGC routes' part of the app's OpenAPI document, written as OpenAPI 3.0 (FastAPI emits
    3.1: nullable types become `nullable`, `examples` lists `example`, `const` an enum, a file's
    `contentMediaType` a binary string, a numeric `exclusiveMinimum`/`exclusiveMaximum` the 3.0
    boolean form). Only the component schemas those routes reach are kept: the rest of the app's
    (the upload forms, say) is not part of this API and not all of it can be said in 3.0."""
    doc = copy.deepcopy(app.openapi())
    doc["openapi"] = "3.0.3"
    doc["paths"] = {p: v for p, v in doc["paths"].items() if p.startswith(prefix)}
    schemas = doc.get("components", {}).get("schemas", {})
    reached: set[str] = set()

    def refs(node):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in reached and name in schemas:
                    reached.add(name)
                    refs(schemas[name])
            for v in node.values():
                refs(v)
        elif isinstance(node, list):
            for v in node:
                refs(v)

    refs(doc["paths"])
    if "components" in doc:
        doc["components"]["schemas"] = {k: v for k, v in schemas.items() if k in reached}

    def down(node):
        if isinstance(node, dict):
            any_of = node.get("anyOf")
            if isinstance(any_of, list) and {"type": "null"} in any_of:
                rest = [s for s in any_of if s != {"type": "null"}]
                node.pop("anyOf")
                if len(rest) == 1:
                    node.update(rest[0])
                else:
                    node["anyOf"] = rest
                node["nullable"] = True
            if "const" in node:
                node["enum"] = [node.pop("const")]
            if isinstance(node.get("examples"), list) and node["examples"] and "schema" not in node:
                node["example"] = node.pop("examples")[0]
            if "contentMediaType" in node:
                node.pop("contentMediaType")
                node["format"] = "binary"
            for key, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
                if isinstance(node.get(key), (int, float)) and not isinstance(node[key], bool):
                    node[bound] = node.pop(key)
                    node[key] = True
            for v in list(node.values()):
                down(v)
        elif isinstance(node, list):
            for v in node:
                down(v)

    down(doc)
    return doc
