"""Default worker count: CPU affinity and the cgroup CPU quota (v2 cpu.max, v1 cfs quota)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from krakenpy.server.cpus import available_cpus, cgroup_cpu_limit


def _v2(tmp_path: Path, cpu_max: str, group: str = "/") -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    folder = root / group.lstrip("/")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cpu.max").write_text(cpu_max + "\n")
    proc = tmp_path / "proc-cgroup"
    proc.write_text(f"0::{group}\n")
    return root, proc


def test_cpus_cgroup_v2_quota(tmp_path: Path) -> None:
    root, proc = _v2(tmp_path, "150000 100000")
    assert cgroup_cpu_limit(root, proc) == 1.5
    assert available_cpus(root, proc) == min(len(os.sched_getaffinity(0)), 2)


def test_cpus_cgroup_v2_nested_group_and_unlimited(tmp_path: Path) -> None:
    root, proc = _v2(tmp_path, "50000 100000", "/kubepods/pod1/c1")
    assert cgroup_cpu_limit(root, proc) == 0.5
    assert available_cpus(root, proc) == 1
    root, proc = _v2(tmp_path / "u", "max 100000")
    assert cgroup_cpu_limit(root, proc) is None
    assert available_cpus(root, proc) == len(os.sched_getaffinity(0))


def test_cpus_cgroup_v1_cfs_quota(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    folder = root / "cpu,cpuacct"
    folder.mkdir(parents=True)
    (folder / "cpu.cfs_quota_us").write_text("100000\n")
    (folder / "cpu.cfs_period_us").write_text("100000\n")
    proc = tmp_path / "proc-cgroup"
    proc.write_text("4:cpu,cpuacct:/\n3:memory:/\n")
    assert cgroup_cpu_limit(root, proc) == 1.0
    (folder / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_cpu_limit(root, proc) is None


def test_cpus_unreadable_cgroup_falls_back_to_affinity(tmp_path: Path) -> None:
    assert cgroup_cpu_limit(tmp_path / "none", tmp_path / "none") is None
    assert available_cpus(tmp_path / "none", tmp_path / "none") == len(os.sched_getaffinity(0))


def test_cpus_affinity_mask_is_honoured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert available_cpus(tmp_path / "none", tmp_path / "none") == 1
