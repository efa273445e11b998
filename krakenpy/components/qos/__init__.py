"""Traffic-control components (``qos/*``)."""
