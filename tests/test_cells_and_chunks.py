"""The two lookups a check stands on give GEOS's own answers:

- the cell grid (zoning.cells) finds exactly the polygons ``STRtree.query(point,
  predicate="intersects")`` finds — random points, piece vertices, points on boundaries
  between vertices and a hair from vertices, points on cell edges and corners, and point and
  line geometries among the polygons;
- chunked references (zoning.nearest) give ``shapely.distance`` to the whole reference for
  every pair within its limit, and inf beyond it;
- distances to a whole layer (complement zones), measured part by part for many points, are
  GEOS's distance to the whole reference, bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from ecozone.zoning.cells import CellIndex


@pytest.fixture(scope="module")
def index(demo_service):
    return demo_service.snapshot.engine.index


def _pairs(a, b) -> set[tuple[int, int]]:
    return set(zip(np.asarray(a).tolist(), np.asarray(b).tolist()))


def _probe_points(index, rng) -> np.ndarray:
    w, s, e, n = shapely.total_bounds(index.pieces)
    random = np.column_stack([rng.uniform(w - 1000, e + 1000, 20_000), rng.uniform(s - 1000, n + 1000, 20_000)])
    vertices = shapely.get_coordinates(index.pieces)
    vertices = vertices[rng.choice(len(vertices), 5_000, replace=False)]
    # Points exactly on cell edges and corners, where a floor() decides the cell.
    cells = index.cells
    gx = cells.origin[0] + rng.integers(0, cells.nx, 2_000) * cells.size
    gy = cells.origin[1] + rng.integers(0, cells.ny, 2_000) * cells.size
    on_grid = np.column_stack([np.r_[gx, gx, rng.uniform(w, e, 2_000)], np.r_[gy, rng.uniform(s, n, 2_000), gy]])
    # Points on boundaries between vertices, and a hair either side of vertices.
    rings = shapely.boundary(index.pieces[rng.choice(len(index.pieces), 3_000)])
    along = shapely.get_coordinates(shapely.line_interpolate_point(rings, rng.uniform(0, 1, rings.size), normalized=True))
    nudged = vertices[:2_000] + rng.choice([-1e-7, 0.0, 1e-7], (2_000, 2))
    return np.vstack([random, vertices, on_grid, along, nudged])


def test_cell_grid_finds_what_the_tree_finds(index):
    xy = _probe_points(index, np.random.default_rng(7))
    points = shapely.points(xy)
    expected = _pairs(*index.tree.query(points, predicate="intersects"))
    got = _pairs(*index.cells.query(index.pieces, xy[:, 0], xy[:, 1]))
    assert got == expected
    assert len(expected) > 20_000  # the probes do land in zones
    for i in range(0, len(xy), 97):  # the single-point path too
        one = set(index.cells.query_point(index.pieces, float(xy[i, 0]), float(xy[i, 1])).tolist())
        assert one == set(index.tree.query(points[i], predicate="intersects").tolist())


def test_cell_grid_with_points_lines_and_holes():
    rng = np.random.default_rng(11)
    ring = shapely.Polygon([(0, 0), (1000, 0), (1000, 1000), (0, 1000)], [[(300, 300), (700, 300), (700, 700), (300, 700)]])
    geoms = np.array([
        ring,
        shapely.LineString([(0, 0), (1000, 1000), (1000, 0)]),
        shapely.Point(500, 500),
        shapely.Point(123.25, 456.5),
        shapely.box(200, 200, 800, 800),
    ], dtype=object)
    shapely.prepare(geoms)
    cells = CellIndex(geoms, target_cells=400)
    xy = np.vstack([
        rng.uniform(-50, 1050, (20_000, 2)),
        shapely.get_coordinates(geoms),  # on vertices (and on the points themselves)
        np.column_stack([np.linspace(0, 1000, 501), np.linspace(0, 1000, 501)]),  # along the diagonal line
    ])
    tree = shapely.STRtree(geoms)
    expected = _pairs(*tree.query(shapely.points(xy), predicate="intersects"))
    assert _pairs(*cells.query(geoms, xy[:, 0], xy[:, 1])) == expected
    assert any(g == 2 for _, g in expected) and any(g == 1 for _, g in expected)


def test_chunked_distances_equal_geos_on_whole_references(index):
    refs = index.references
    rng = np.random.default_rng(3)
    w, s, e, n = shapely.bounds(index.planned_region)
    points = shapely.points(rng.uniform(w, e, 3_000), rng.uniform(s, n, 3_000))
    starts = rng.uniform([w, s], [e, n], (300, 2))
    lines = shapely.linestrings(np.stack([starts, starts + rng.uniform(-4000, 4000, (300, 2))], axis=1))
    polys = shapely.buffer(shapely.points(rng.uniform(w, e, 300), rng.uniform(s, n, 300)), 600)
    sites = np.concatenate([points, lines, polys])
    pair_site = np.repeat(np.arange(sites.size), 3)
    pair_ref = rng.integers(0, refs.n_refs, pair_site.size)
    exact = shapely.distance(sites[pair_site], refs.references[pair_ref])
    # Limits on both sides of the true distance, some a micrometre away, some far.
    limit = exact * rng.choice([0.5, 1 - 1e-9, 1 + 1e-9, 3.0], pair_site.size) + rng.choice([0.0, 1.0], pair_site.size)
    got = refs.distances(sites, pair_site, pair_ref, limit)
    within = exact <= limit
    assert within.sum() > 500 and (~within).sum() > 500
    np.testing.assert_allclose(got[within], exact[within], rtol=0, atol=1e-6)
    assert np.isinf(got[~within]).all()
    for i in range(0, sites.size, 37):  # the single-site path
        mine = np.flatnonzero(pair_site == i)
        one = refs.distances_from(sites[i], pair_ref[mine], limit[mine])
        np.testing.assert_allclose(np.where(within[mine], one, np.inf), np.where(within[mine], exact[mine], np.inf),
                                   atol=1e-6)
        assert np.isinf(one[~within[mine]]).all()
    far = refs.nearest(sites[:500], int(pair_ref[0]))
    np.testing.assert_allclose(far, shapely.distance(sites[:500], refs.references[pair_ref[0]]), atol=1e-6)


def test_point_distances_within_reach_equal_geos(index):
    """Points (the batch's bulk case) take their own path when every limit is within its
    reference's reach: the same answers — pairs sorted or not, a (site, reference) pair asked
    twice with different limits, limits a hair either side of the true distance and exactly
    at it."""
    refs = index.references
    rng = np.random.default_rng(9)
    buffered = np.flatnonzero(refs.reach > 1.0)
    near = rng.choice(buffered, 20_000)  # each point within about its reach of one reference
    lines = np.array([shapely.boundary(g) if shapely.get_dimensions(g) == 2 else g for g in refs.references[near]])
    on = shapely.get_coordinates(shapely.line_interpolate_point(lines, rng.uniform(0, 1, near.size), normalized=True))
    angle, radius = rng.uniform(0, 2 * np.pi, near.size), refs.reach[near] * np.sqrt(rng.uniform(0, 1.4, near.size))
    points = shapely.points(on[:, 0] + radius * np.cos(angle), on[:, 1] + radius * np.sin(angle))
    pair_site = np.repeat(np.arange(points.size), 3)
    pair_ref = np.c_[near, near, rng.choice(buffered, near.size)].ravel()  # the same pair twice, and another
    exact = shapely.distance(points[pair_site], refs.references[pair_ref])
    reach = refs.reach[pair_ref]
    limit = np.minimum(exact * rng.choice([0.5, 1 - 1e-9, 1 + 1e-9, 1.0], pair_site.size), reach)
    limit = np.where(rng.random(limit.size) < 0.3, reach * rng.uniform(0, 1, limit.size), limit)
    within = exact <= limit
    assert within.sum() > 2_000 and (~within).sum() > 2_000
    shuffled = rng.permutation(pair_site.size)
    for order in (np.arange(pair_site.size), shuffled):
        got = refs.distances(points, pair_site[order], pair_ref[order], limit[order])
        np.testing.assert_array_equal(got, np.where(within[order], exact[order], np.inf))
    for i in range(0, points.size, 97):  # the single-site paths, on the same limits
        mine = slice(3 * i, 3 * i + 3)
        expected = np.where(within[mine], exact[mine], np.inf)
        np.testing.assert_array_equal(refs.distances_from(points[i], pair_ref[mine], limit[mine]), expected)
        one = refs.distances_from_point(points[i], (points[i].x, points[i].y), pair_ref[mine].tolist(),
                                        limit[mine].tolist())
        np.testing.assert_array_equal(one, expected)
        beyond = refs.distances_from_point(points[i], (points[i].x, points[i].y), pair_ref[mine].tolist(),
                                           (refs.reach[pair_ref[mine]] * 3).tolist())  # the general path
        exact_beyond = np.where(exact[mine] <= refs.reach[pair_ref[mine]] * 3, exact[mine], np.inf)
        np.testing.assert_array_equal(beyond, exact_beyond)


def test_nearest_and_touches_equal_geos_on_every_reference(index):
    """Complement zones measure how far a site is from a whole layer ("outside every park"):
    many points are measured part by part, bounded by envelopes — the same distance as GEOS's
    to the whole reference, for points far away, inside a part, on its boundary and at its
    vertices; and `touches` is GEOS's intersects."""
    refs = index.references
    rng = np.random.default_rng(5)
    w, s, e, n = shapely.bounds(index.planned_region)
    tested_by_parts = 0
    assert refs.cell_parts  # references of several parts have a grid
    for ref in range(refs.n_refs):
        whole = refs.references[ref]
        vertices = shapely.get_coordinates(whole)
        x0, y0, x1, y1 = shapely.bounds(whole).tolist()
        on_boundary = shapely.line_interpolate_point(shapely.boundary(whole) if shapely.get_dimensions(whole) == 2
                                                     else whole, rng.uniform(0, 1, 200), normalized=True)
        points = np.concatenate([
            shapely.points(rng.uniform(w, e, 2_000), rng.uniform(s, n, 2_000)),
            shapely.points(vertices[rng.integers(0, len(vertices), 200)]),
            np.atleast_1d(on_boundary),
            shapely.points(rng.uniform(x0, x1, 300), rng.uniform(y0, y1, 300)),  # many inside its parts
        ])
        parts = int(refs.part_start[ref + 1] - refs.part_start[ref])
        tested_by_parts += parts > 1
        np.testing.assert_array_equal(refs.nearest(points, ref), shapely.distance(points, whole))
        np.testing.assert_array_equal(refs.touches(points, ref), shapely.intersects(points, whole))
        assert refs.nearest(points[7], ref)[0] == shapely.distance(points[7], whole)  # one site: GEOS's own
        for p in points[::7]:  # one point, by its grid cell's parts
            assert refs.nearest_point(p, (p.x, p.y), ref) == shapely.distance(p, whole)
    assert tested_by_parts >= 2  # the layers complement zones measure to have many parts
