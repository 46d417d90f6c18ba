"""Prepared geometries, one copy per thread.

Threads share a compiled index (the service's event loop and threadpool, its job runner,
batch threads). GEOS's prepared geometries are not thread-safe (libgeos/geos#825): two
threads testing points against the same prepared pieces corrupted the heap here, even after
every piece had answered once. So nothing shared is prepared; each thread that needs a
prepared geometry gets its own copy, made on its first use and kept while the owner lives.
"""

from __future__ import annotations

import threading

import numpy as np
import shapely


def prepared_copy(owner, name: str) -> shapely.Geometry | np.ndarray:
    """This thread's prepared copy of ``owner``'s geometry attribute ``name``. The copies live
    in a thread-local object on the owner (so they go with it; owners leave it out when
    pickled), found in a few attribute lookups — a check asks several times."""
    local = owner.__dict__.get("_thread_copies")
    if local is None:
        local = owner.__dict__.setdefault("_thread_copies", threading.local())
    got = getattr(local, name, None)
    if got is None:
        got = shapely.from_wkb(shapely.to_wkb(getattr(owner, name)))  # a copy: its own GEOS object
        shapely.prepare(got)
        setattr(local, name, got)
    return got
