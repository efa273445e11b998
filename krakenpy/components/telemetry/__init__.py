"""The ``telemetry/*`` namespaces: thin components over :mod:`krakenpy.telemetry`."""
