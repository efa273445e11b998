"""The Dockerfile and the Kubernetes manifests agree with the real CLI and config: commands parse, the
configuration they ship passes ``check``, ports match, probes hit a path the gateway serves. (No image
is built here: there is no container engine.)"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from krakenpy.cli import _parser
from tests.conftest import ROOT, free_port

K8S = ROOT / "deploy" / "k8s"


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the final stage, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            instructions.append((word.upper(), rest.strip()))
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last_from:]


def _one(instructions: list[tuple[str, str]], word: str) -> str:
    found = [rest for w, rest in instructions if w == word]
    assert len(found) == 1, f"{word}: {found}"
    return found[0]


def _manifests() -> dict[tuple[str, str], dict[str, Any]]:
    docs: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and "kind" in doc and doc["kind"] != "Kustomization":
                docs[(doc["kind"], doc["metadata"]["name"])] = doc
    return docs


CONFIG = json.loads((K8S / "krakend.json").read_text())


def _check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "krakenpy", "check", "-c", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_deploy_shipped_config_passes_check_and_binds_all_interfaces() -> None:
    out = _check(K8S / "krakend.json")
    assert out.returncode == 0, out.stderr
    assert CONFIG["listen_ip"] == "0.0.0.0"  # inside a pod the Service reaches it on the pod IP
    assert not CONFIG.get("debug_endpoint") and not CONFIG.get("echo_endpoint")


def test_deploy_dockerfile_matches_cli_config_and_health_path() -> None:
    final = _dockerfile()
    entrypoint = json.loads(_one(final, "ENTRYPOINT"))
    command = json.loads(_one(final, "CMD"))
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert entrypoint == ["krakenpy"] and "krakenpy" in scripts
    args = _parser().parse_args(command)
    assert args.command == "run" and args.config == "/etc/krakend/krakend.json"
    source, target = _one(final, "COPY").split()[-2:]
    assert target == args.config and (ROOT / source).resolve() == (K8S / "krakend.json").resolve()
    assert _one(final, "WORKDIR") == "/etc/krakend"
    user = _one(final, "USER").split(":")[0]
    assert user not in ("root", "0")
    assert int(_one(final, "EXPOSE")) == CONFIG["port"]
    healthcheck = _one(final, "HEALTHCHECK")
    assert f"http://127.0.0.1:{CONFIG['port']}/__health" in healthcheck
    assert "python:" in _one(_dockerfile(), "FROM") and "slim" in _one(_dockerfile(), "FROM")


def test_deploy_dockerfile_copies_only_what_exists() -> None:
    text = (ROOT / "Dockerfile").read_text()
    for line in text.splitlines():
        if line.startswith("COPY") and "--from" not in line:
            for source in shlex.split(line)[1:-1]:
                assert (ROOT / source).exists(), source
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "deploy" not in ignored and "krakenpy" not in ignored and "schemas" not in ignored


def test_deploy_k8s_deployment_matches_cli_and_config() -> None:
    docs = _manifests()
    deployment = docs[("Deployment", "krakenpy")]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    args = _parser().parse_args(container["args"])
    assert args.command == "run"
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    assert Path(args.config).parent == Path(mount["mountPath"])
    assert Path(args.config).name == "krakend.json"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == CONFIG["port"]
    for probe in ("readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/__health" and get["port"] == "http"
    assert container["resources"]["requests"] and container["resources"]["limits"]["cpu"]
    dockerfile_uid = int(_one(_dockerfile(), "USER").split(":")[0])
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == dockerfile_uid
    volume = next(v for v in pod["volumes"] if v["name"] == "config")
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    (generator,) = kustomization["configMapGenerator"]
    assert volume["configMap"]["name"] == generator["name"] and generator["files"] == ["krakend.json"]
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"
    )


def test_deploy_k8s_service_hpa_and_redis_fit_together() -> None:
    docs = _manifests()
    deployment = docs[("Deployment", "krakenpy")]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert deployment["spec"]["template"]["metadata"]["labels"] == selector
    service = docs[("Service", "krakenpy")]
    assert service["spec"]["selector"] == selector and service["spec"]["ports"][0]["targetPort"] == "http"
    hpa = docs[("HorizontalPodAutoscaler", "krakenpy")]
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "krakenpy")
    assert hpa["spec"]["minReplicas"] >= 2
    redis = docs[("Service", "redis")]
    assert redis["spec"]["ports"][0]["port"] == 6379
    redis_pod = docs[("Deployment", "redis")]["spec"]["template"]
    assert redis["spec"]["selector"] == redis_pod["metadata"]["labels"]


def test_deploy_probe_path_is_served_by_the_shipped_config() -> None:
    """Start the shipped config (backends need not exist) and probe what Kubernetes probes."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "krakenpy", "run", "-c", str(K8S / "krakend.json"), "-p", str(port), "-w", "1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        from tests.cli_gateway import wait_http

        wait_http(f"http://127.0.0.1:{port}/__health", proc)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/__health", timeout=5) as resp:
            assert resp.status == 200
            assert json.loads(resp.read())["status"] == "ok"
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


@pytest.mark.parametrize("path", sorted(K8S.glob("*.yaml")), ids=lambda p: p.name)
def test_deploy_manifests_are_valid_yaml_with_kind_and_name(path: Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        assert doc["apiVersion"] and doc["kind"]
        if doc["kind"] != "Kustomization":
            assert doc["metadata"]["name"]
