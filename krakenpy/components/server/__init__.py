"""Components of the ``server/*`` namespaces."""
