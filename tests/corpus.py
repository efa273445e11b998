"""Where the tests find the public corpus of 60 real KrakenD configs.

The configs are not vendored: their licences vary and some state none. The tests read
``$KRAKENPY_CORPUS`` or ``../shared/corpus/krakend-configs`` next to the repository and skip, with
the reason in pytest's summary (``-ra``), when neither is there. A ``KRAKENPY_CORPUS`` that names a
folder without the configs is a mistake, not a reason to skip: the test session stops.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import ROOT

_CONFIGURED = os.environ.get("KRAKENPY_CORPUS", "")
CORPUS = Path(_CONFIGURED) if _CONFIGURED else ROOT.parent / "shared" / "corpus" / "krakend-configs"
FILES = sorted(CORPUS.glob("*.json")) if CORPUS.is_dir() else []
if _CONFIGURED and not FILES:
    raise pytest.UsageError(f"KRAKENPY_CORPUS={_CONFIGURED!r} holds no *.json config")

#: skip a test (visibly) when the corpus is absent
needs_corpus = pytest.mark.skipif(
    not FILES, reason=f"corpus not found at {CORPUS} (not vendored; set KRAKENPY_CORPUS to its folder)"
)
