"""krakenpy's components: one module per ``extra_config`` namespace (``security/cors`` lives in
``krakenpy/components/security/cors.py``), each exporting ``COMPONENT``; the layers' order is in
:mod:`krakenpy.components.registry`. See :mod:`krakenpy.components.base` for the contract."""
