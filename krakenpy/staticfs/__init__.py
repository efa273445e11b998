"""Files served from a folder: the engine of ``server/static-filesystem`` and ``backend/static-filesystem``.

Safe by construction: a request names a file by path segments that never climb out of the folder
(``..``, encoded slashes, backslashes and NUL bytes are refused), hidden names are refused (except
``.well-known``), and a symlink is followed only when its target stays inside the folder.
"""

from __future__ import annotations

from krakenpy.staticfs.files import FileAnswer, not_found, serve_file, serve_path
from krakenpy.staticfs.paths import Folder, safe_parts

__all__ = ["FileAnswer", "Folder", "not_found", "safe_parts", "serve_file", "serve_path"]
