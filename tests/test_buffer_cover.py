"""No site within a rule's distance is ever missed, whatever the shape of the river or polygon.

GEOS simplifies a buffer's input by 1 % of the distance, which pulls its boundary inside the
true buffer where a line is concave (990 m for a 1 km buffer of the demo 乌江). The engine's
index must still find every site within the distance: sites are placed just inside the true
distance — on the boundary of a buffer 2 m smaller, whose points are all within it — along every
buffered zone of the demo data, and each must get the rule."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from ecozone.zoning.engine import Engine


@pytest.fixture(scope="module")
def engine(demo_service) -> Engine:
    return demo_service.snapshot.engine


def test_every_site_just_inside_a_buffer_is_found(engine):
    idx = engine.index
    rng = np.random.default_rng(11)
    missed, tried = [], 0
    for z in np.flatnonzero(idx.zone_within > 0):
        within = float(idx.zone_within[z])
        ring = shapely.boundary(shapely.buffer(idx.zone_reference[z], within - 2.0, quad_segs=16))
        xy = shapely.get_coordinates(shapely.segmentize(ring, max(within / 20, 20.0)))
        xy = xy[rng.choice(len(xy), size=min(len(xy), 60), replace=False)]
        clip = int(idx.zone_clip[z])
        if clip >= 0:
            xy = xy[shapely.contains_xy(idx.clips[clip], xy[:, 0], xy[:, 1])]
        rule = idx.catalog.rules[int(idx.zone_rule[z])].id
        for x, y in xy:
            tried += 1
            found = {f.rule.id for f in engine.evaluate_metric(shapely.Point(x, y), None).findings}
            if rule not in found:
                missed.append((rule, round(float(x)), round(float(y))))
    assert tried > 1000
    assert not missed, f"{len(missed)} of {tried} sites within the distance were missed: {missed[:5]}"
