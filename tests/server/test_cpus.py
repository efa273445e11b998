"""Default worker count: CPU affinity and the cgroup CPU quota (v2 cpu.max, v1 cfs quota)."""

from __future__ import annotations

import os
import subprocess
import sys
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


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one CPU: no smaller affinity mask to set")
def test_cpus_affinity_mask_is_honoured() -> None:
    # a real mask (what taskset sets), in a child process so this one keeps its CPUs; the real cgroup
    # files are read too, and cannot raise the count above the mask
    cpu = min(os.sched_getaffinity(0))
    code = (
        "import os\n"
        f"os.sched_setaffinity(0, {{{cpu}}})\n"
        "from krakenpy.server.cpus import available_cpus\n"
        "print(available_cpus())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "1"
