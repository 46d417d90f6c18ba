"""Project types, rule catalog, compiled zone index, site evaluation. Never reads files or HTTP except its own packaged rule data."""
