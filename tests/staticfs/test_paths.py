"""Request paths to files: what can never leave the folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from krakenpy.staticfs.paths import Folder, inside, safe_parts


@pytest.mark.parametrize(
    ("relative", "parts"),
    [
        ("a/b.css", ["a", "b.css"]),
        ("//a///b/./c", ["a", "b", "c"]),
        ("", []),
        (".well-known/security.txt", [".well-known", "security.txt"]),
        ("a..b/c...txt", ["a..b", "c...txt"]),
    ],
)
def test_safe_parts_cleans_like_go(relative: str, parts: list[str]) -> None:
    assert safe_parts(relative) == parts


@pytest.mark.parametrize(
    "relative", ["../etc/passwd", "a/../../x", "..", ".git/config", "a/.htpasswd", "a\\..\\b", "a\x00b", ".env"]
)
def test_safe_parts_refuses_climbing_hidden_and_odd_bytes(relative: str) -> None:
    assert safe_parts(relative) is None


def test_inside_is_by_whole_segments() -> None:
    assert inside("/srv/www/a", "/srv/www")
    assert inside("/srv/www", "/srv/www")
    assert not inside("/srv/www2/a", "/srv/www")
    assert not inside("/srv", "/srv/www")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "www"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "page.html").write_text("<p>x</p>")
    (root / "a.txt").write_text("a")
    (tmp_path / "secret.txt").write_text("secret")
    (root / "escape.txt").symlink_to(tmp_path / "secret.txt")
    (root / "escape-dir").symlink_to(tmp_path)
    (root / "inner.txt").symlink_to(root / "sub" / "page.html")
    (root / "relative-inner").symlink_to("sub")
    os.mkfifo(root / "fifo")
    return root


def test_folder_locates_files_and_folders(tree: Path) -> None:
    folder = Folder(str(tree))
    found = folder.locate(["a.txt"])
    assert found is not None and found.is_file and found.stat.st_size == 1
    sub = folder.locate(["sub"])
    assert sub is not None and sub.is_dir
    assert folder.locate([]) is not None  # the root itself
    assert folder.locate(["missing"]) is None
    assert folder.locate(["a.txt", "x"]) is None  # a file is not a folder


def test_folder_follows_symlinks_only_inside(tree: Path) -> None:
    folder = Folder(str(tree))
    assert folder.locate(["escape.txt"]) is None
    assert folder.locate(["escape-dir", "secret.txt"]) is None
    inner = folder.locate(["inner.txt"])
    assert inner is not None and inner.path == str(tree / "sub" / "page.html")
    via_link = folder.locate(["relative-inner", "page.html"])
    assert via_link is not None and via_link.is_file


def test_folder_never_opens_devices_or_fifos(tree: Path) -> None:
    assert Folder(str(tree)).locate(["fifo"]) is None


def test_folder_created_after_start_is_served(tmp_path: Path) -> None:
    folder = Folder(str(tmp_path / "later"))
    assert folder.real() is None and folder.locate(["a"]) is None
    (tmp_path / "later").mkdir()
    (tmp_path / "later" / "a").write_text("a")
    assert folder.locate(["a"]) is not None


def test_folder_root_given_through_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "f").write_text("f")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    found = Folder(str(tmp_path / "link")).locate(["f"])
    assert found is not None and found.path == str(tmp_path / "real" / "f")
