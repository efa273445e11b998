"""The Martian DSL of ``modifier/martian`` (KrakenD's krakend-martian over google/martian): static
request and response modifiers, filters and groups, compiled once per backend into plain functions
over a :class:`~krakenpy.martian.message.Message`."""
