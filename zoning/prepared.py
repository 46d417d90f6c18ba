"""Prepared geometries, one copy per thread.

Threads share a compiled index (the service's event loop and threadpool, its job runner,
batch threads). GEOS's prepared geometries are not thread-safe (libgeos/geos#825): two
threads testing points against the same prepared pieces corrupted the heap here, even after
every piece had answered once. So nothing shared is prepared; each thread that needs a
prepared geometry gets its own copy, made on its first use and kept while the owner lives.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np
import shapely

_THREAD_COPIES = threading.local()


def prepared_copy(owner, name: str) -> shapely.Geometry | np.ndarray:
    """This thread's prepared copy of ``owner``'s geometry attribute ``name``."""
    copies = getattr(_THREAD_COPIES, "copies", None)
    if copies is None:
        copies = _THREAD_COPIES.copies = weakref.WeakKeyDictionary()
    mine = copies.get(owner)
    if mine is None:
        mine = copies[owner] = {}
    got = mine.get(name)
    if got is None:
        got = mine[name] = shapely.from_wkb(shapely.to_wkb(getattr(owner, name)))  # a copy: its own GEOS object
        shapely.prepare(got)
    return got
