"""krakenpy: a KrakenD-compatible API gateway in Python."""

__version__ = "0.1.0"
PRODUCT = "KrakenPy"

__all__ = ["PRODUCT", "__version__"]
