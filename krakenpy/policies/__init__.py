"""The engine of ``security/policies``: compiled CEL sections (:mod:`.engine`) and the advanced
macros (:mod:`.macros`). Imported by the component's ``parse`` only: it loads the CEL library."""
