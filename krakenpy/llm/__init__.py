"""KrakenD Enterprise's unified LLM interface (``ai/llm``): the vendors' request and answer shapes
(:mod:`krakenpy.llm.vendors`) and the client-layer call that rewrites one backend's upstream call
(:mod:`krakenpy.llm.call`)."""
