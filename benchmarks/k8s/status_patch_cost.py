#!/usr/bin/env python3
"""kube-apiserver CPU per status PATCH of a Node or a Pod as fogmesh-kubelet writes them: with
and without managed fields on the objects (the kubelet clears its Nodes' managed fields), and
with the whole status or only the members that changed (an agent's daemon status change: the
Node's conditions). Answers are protobuf, read and dropped, as the kubelet asks for them. CPU
seconds of the API server process (/proc/PID/stat), not wall time, so other load on the machine
changes the figures less; the variants alternate in rounds. Also the CPU of the one extra
request that clears an object's managed fields (its cost at the first pass).

  status_patch_cost.py --kubeconfig FILE --apiserver-pid PID [--kind node|pod] [--objects 300]
                       [--rounds 3]

The objects are created and deleted here (names fogmesh-patchcost-PID-*; Pods in namespace
fogmesh-patchcost, created when missing). Standard library only.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from k8sbench import ApiError, Kube  # noqa: E402

MERGE = "application/merge-patch+json"
PROTOBUF = "application/vnd.kubernetes.protobuf"
NS = "fogmesh-patchcost"


def cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def node_status(i, ready, whole):
    conditions = [
        {"type": "Ready", "status": ready, "reason": "Agent", "message": f"n{i}",
         "lastHeartbeatTime": "2026-11-26T00:00:00Z", "lastTransitionTime": "2026-11-26T00:00:00Z"},
        {"type": "MemoryPressure", "status": "False", "reason": "AgentMemory"},
        {"type": "DiskPressure", "status": "False", "reason": "AgentDisk"}]
    if not whole:
        return {"status": {"conditions": conditions}}
    return {"status": {
        "capacity": {"cpu": "2", "memory": "4096Mi", "pods": "100"},
        "allocatable": {"cpu": "2", "memory": "3996Mi", "pods": "100"},
        "conditions": conditions,
        "addresses": [{"type": "Hostname", "address": f"n{i}"},
                      {"type": "InternalIP", "address": "192.0.2.1"}],
        "nodeInfo": {"kubeletVersion": "fogmesh-kubelet/0.1.0", "operatingSystem": "linux",
                     "architecture": "amd64", "machineID": f"m{i}", "systemUUID": f"s{i}",
                     "bootID": "", "kernelVersion": "", "osImage": "",
                     "containerRuntimeVersion": "docker://", "kubeProxyVersion": ""}}}


def pod_status(i, running, whole):
    # A microservice's status change changes every member the kubelet writes: "changed only"
    # is the whole status for a Pod.
    del whole
    state = {"running": {}} if running else {"waiting": {"reason": "STOPPED", "message": ""}}
    return {"status": {
        "phase": "Running" if running else "Succeeded",
        "conditions": [{"type": "Ready", "status": "True" if running else "False"}],
        "containerStatuses": [{"name": f"c{i}", "image": "busybox:1", "imageID": "",
                               "ready": running, "restartCount": 0, "state": state}]}}


def node_object(name, i):
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"a": "b", "iofog.org/i": str(i)}},
            "spec": {"taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]},
            **node_status(i, "True", True)}


def pod_object(name, i):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS,
                         "labels": {"iofog.org/application": "a", "iofog.org/i": str(i)}},
            "spec": {"nodeName": "fogmesh-patchcost-node",
                     "containers": [{"name": f"c{i}", "image": "busybox:1"}],
                     "tolerations": [{"key": "iofog.org/agent", "operator": "Exists",
                                      "effect": "NoSchedule"}]}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--apiserver-pid", type=int, required=True)
    ap.add_argument("--kind", choices=("node", "pod"), default="node")
    ap.add_argument("--objects", "--nodes", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    kube = Kube(args.kubeconfig)
    if args.kind == "node":
        collection, make, status = "/api/v1/nodes", node_object, node_status
        flips = ("True", "False")
        bodies = ("whole", "changed")
    else:
        try:
            kube.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                     "metadata": {"name": NS}})
        except ApiError as e:
            if e.status != 409:
                raise
        collection, make, status = f"/api/v1/namespaces/{NS}/pods", pod_object, pod_status
        flips = (True, False)
        bodies = ("whole",)
    variants = {"tracked": [], "cleared": []}
    names = {}
    clear_cpu = 0.0
    for v in variants:
        names[v] = [f"fogmesh-patchcost-{os.getpid()}-{v}-{i}" for i in range(args.objects)]
        for i, n in enumerate(names[v]):
            kube.call("POST", collection, make(n, i))
            # The status the kubelet writes right after a create (a Pod's is dropped at create).
            kube.call_accept("PATCH", f"{collection}/{n}/status", status(i, flips[0], True),
                             MERGE, PROTOBUF)
        if v == "cleared":
            c0 = cpu(args.apiserver_pid)
            for n in names[v]:
                kube.call_accept("PATCH", f"{collection}/{n}", {"metadata": {"managedFields": [{}]}},
                                 MERGE, PROTOBUF)
            clear_cpu = (cpu(args.apiserver_pid) - c0) / args.objects
    results = {(v, b): [] for v in variants for b in bodies}
    try:
        flip = 0
        for _ in range(args.rounds):
            for (v, body) in results:
                flip = 1 - flip
                c0 = cpu(args.apiserver_pid)
                for i, n in enumerate(names[v]):
                    kube.call_accept("PATCH", f"{collection}/{n}/status",
                                     status(i, flips[flip], body == "whole"), MERGE, PROTOBUF)
                results[(v, body)].append((cpu(args.apiserver_pid) - c0) / args.objects)
    finally:
        # Pods at once (no kubelet here confirms a graceful deletion).
        gone = {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0}
        for v in variants:
            for n in names[v]:
                kube.call("DELETE", f"{collection}/{n}", gone, ok=(200, 404))
    for (v, body), per in results.items():
        per_ms = sorted(1000 * p for p in per)
        print(f"RESULT apiserver_cpu_per_{args.kind}_status_patch_{v}_{body} "
              f"{per_ms[len(per_ms) // 2]:.2f} ms  # median of {len(per_ms)} rounds of "
              f"{args.objects} PATCHes ({', '.join(f'{p:.2f}' for p in per_ms)}); managed fields "
              f"{v}, {body} status, protobuf answer")
    print(f"RESULT apiserver_cpu_per_{args.kind}_managed_fields_clear {1000 * clear_cpu:.2f} ms"
          f"  # the one metadata PATCH (managedFields: [{{}}]) per object, {args.objects} objects")


if __name__ == "__main__":
    main()
