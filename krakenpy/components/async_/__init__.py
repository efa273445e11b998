"""``async/*``: the drivers of async agents."""
