"""Components of the ``ai/*`` namespaces."""
