"""krakenpy.files: config-named files are regular files read up to a limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from krakenpy.errors import ConfigError
from krakenpy.files import FileRefused, read_bounded, read_config_file


def test_files_read_bounded_counts_what_arrives_not_what_stat_says(tmp_path: Path) -> None:
    exact = tmp_path / "exact"
    exact.write_bytes(b"x" * 100)
    assert read_bounded(exact, limit=100) == b"x" * 100
    with pytest.raises(FileRefused, match="larger than the 99 bytes limit"):
        read_bounded(exact, limit=99)
    # /proc files report size 0 and still have content: the limit applies to the bytes read
    assert read_bounded("/proc/self/status", limit=1 << 20).startswith(b"Name:")
    with pytest.raises(FileRefused, match="larger than"):
        read_bounded("/proc/self/status", limit=10)


def test_files_read_config_file_is_a_config_error_at_the_json_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        read_config_file(tmp_path, "a.b")
    assert str(info.value) == f"a.b: cannot read {tmp_path}: not a regular file (a device, FIFO, socket or directory)"
    with pytest.raises(ConfigError) as info:
        read_config_file(tmp_path / "gone", "a.c")
    assert str(info.value) == f"a.c: cannot read {tmp_path / 'gone'}: No such file or directory"
