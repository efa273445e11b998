"""Components of the ``documentation/*`` namespaces."""
