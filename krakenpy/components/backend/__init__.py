"""Components of the ``backend/*`` namespaces."""
