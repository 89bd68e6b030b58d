#!/usr/bin/env python3
"""kube-apiserver CPU per Node status PATCH, with and without managed fields on the Nodes, and
with a JSON or a protobuf answer (what fogmesh-kubelet sends since it clears its Nodes' managed
fields and drops the answer). CPU seconds of the API server process (/proc/PID/stat), not wall
time, so other load on the machine changes the figures less; the variants alternate in rounds.

  status_patch_cost.py --kubeconfig FILE --apiserver-pid PID [--nodes 300] [--rounds 3]

The Nodes are created and deleted here (names fogmesh-patchcost-*). Standard library only.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from k8sbench import Kube  # noqa: E402


def cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status(i, ready):
    return {"status": {
        "conditions": [{"type": "Ready", "status": ready, "reason": "Agent", "message": f"n{i}"},
                       {"type": "MemoryPressure", "status": "False", "reason": "AgentMemory"},
                       {"type": "DiskPressure", "status": "False", "reason": "AgentDisk"}],
        "capacity": {"cpu": "2", "memory": "4096Mi", "pods": "100"},
        "allocatable": {"cpu": "2", "memory": "3996Mi", "pods": "100"},
        "addresses": [{"type": "Hostname", "address": f"n{i}"}],
        "nodeInfo": {"kubeletVersion": "x", "operatingSystem": "linux", "architecture": "amd64",
                     "machineID": "m", "systemUUID": "s", "bootID": "", "kernelVersion": "",
                     "osImage": "", "containerRuntimeVersion": "docker://",
                     "kubeProxyVersion": ""}}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--apiserver-pid", type=int, required=True)
    ap.add_argument("--nodes", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    kube = Kube(args.kubeconfig)
    variants = {"tracked": [], "cleared": []}
    names = {}
    for v in variants:
        names[v] = [f"fogmesh-patchcost-{v}-{i}" for i in range(args.nodes)]
        for i, n in enumerate(names[v]):
            kube.call("POST", "/api/v1/nodes", {
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": n, "labels": {"a": "b", "iofog.org/i": str(i)}},
                "spec": {"taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]},
                **status(i, "True")})
            if v == "cleared":
                kube.call("PATCH", f"/api/v1/nodes/{n}", {"metadata": {"managedFields": [{}]}},
                          "application/merge-patch+json")
    results = {(v, a): [] for v in variants for a in ("json", "protobuf")}
    try:
        flip = "False"
        for _ in range(args.rounds):
            for (v, accept) in results:
                flip = "True" if flip == "False" else "False"
                c0 = cpu(args.apiserver_pid)
                for i, n in enumerate(names[v]):
                    kube.call_accept("PATCH", f"/api/v1/nodes/{n}/status", status(i, flip),
                                     "application/merge-patch+json",
                                     "application/json" if accept == "json"
                                     else "application/vnd.kubernetes.protobuf")
                results[(v, accept)].append((cpu(args.apiserver_pid) - c0) / args.nodes)
    finally:
        for v in variants:
            for n in names[v]:
                kube.call("DELETE", f"/api/v1/nodes/{n}", ok=(200, 404))
    for (v, accept), per in results.items():
        per_ms = sorted(1000 * p for p in per)
        print(f"RESULT apiserver_cpu_per_status_patch_{v}_{accept} {per_ms[len(per_ms) // 2]:.2f} "
              f"ms  # median of {len(per_ms)} rounds of {args.nodes} PATCHes "
              f"({', '.join(f'{p:.2f}' for p in per_ms)}); managed fields {v}, answer {accept}")


if __name__ == "__main__":
    main()
