"""ecozone: ecological zoning and siting service for Chongqing."""
__version__ = "0.1.0"
