"""Components of the ``modifier/*`` namespaces."""
