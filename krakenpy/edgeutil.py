"""Headers an edge middleware decides before the handler runs.

Go middlewares (rs/cors, unrolled/secure) write their headers on the response *before* calling the
handler, which may add more under the same name (a ``no-op`` backend's own ``Vary``); krakenpy's
edge middlewares see the response afterwards, so :func:`add_before` puts theirs first.
"""

from __future__ import annotations

from collections.abc import Sequence

from multidict import CIMultiDict

__all__ = ["add_before"]


def add_before(headers: CIMultiDict[str], pairs: Sequence[tuple[str, str]]) -> None:
    """Add ``pairs`` to ``headers`` as if they had been written first; values the handler wrote
    under the same names are kept, after ours."""
    for name, _ in pairs:
        if name in headers:
            break
    else:
        headers.extend(pairs)
        return
    rebuilt: CIMultiDict[str] = CIMultiDict(pairs)
    rebuilt.extend(headers)
    headers.clear()
    headers.extend(rebuilt)
