"""Layer store, formats, CRS handling. Knows nothing of rules."""
