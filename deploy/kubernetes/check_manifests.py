#!/usr/bin/env python3
"""Keeps deploy/kubernetes's two ways of installing fogmesh-operator the same, without helm
(Debian 12 has no helm package):

1. renders the chart helm/fogmesh-operator with its values.yaml — only the template constructs
   the chart uses are understood ({{ .Values.a.b }}, {{ .Release.Namespace }},
   {{ .Chart.Name/.Version/.AppVersion }}, `| quote`, {{ toYaml .Values.x | indent N }}); any
   other construct is an error, so a template this script cannot render fails the check instead
   of passing it;
2. compares every rendered object with the same object of the plain manifest operator.yaml
   (which has the Namespace besides): equal after YAML parsing, or the difference is printed;
3. checks that the chart's crds/ (a symlink to ../../crds: helm follows it when it loads the
   chart directory) holds the files of crds/ (what kubectl applies and the operator embeds), and
   that values.yaml's operator image tag is the chart's appVersion;
4. with --operator BIN: the binary accepts the Deployment's arguments (`BIN ARGS... --help`
   exits 0; the chart once passed --log-level=info, which the operator refuses);
5. with --kubeconfig: `kubectl apply --dry-run=server` of the CRDs, the plain manifests
   (operator.yaml, kubelet.yaml, example-controlplane.yaml, controller-postgres.yaml) and the rendered chart against that API server (types, RBAC rules and fields validated by a real
   kube-apiserver; ctest runs it against the k8s fixture's).

  check_manifests.py [--operator BIN] [--kubeconfig FILE --kubectl KUBECTL]   exit 0 = in sync
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
CHART = os.path.join(HERE, "helm", "fogmesh-operator")
NAMESPACE = "iofog"  # the plain manifest's namespace

ACTION = re.compile(r"{{-?\s*(.*?)\s*-?}}")


def lookup(ctx, dotted):
    cur = ctx
    for part in dotted.lstrip(".").split("."):
        if not isinstance(cur, dict) or part not in cur:
            raise KeyError(f"{dotted}: not set")
        cur = cur[part]
    return cur


def scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return ""
    if isinstance(v, (dict, list)):
        raise ValueError(f"{v!r} is not a scalar (use toYaml)")
    return str(v)


def render_action(expr, ctx, path):
    m = re.fullmatch(r"toYaml\s+(\.[\w.]+)\s*\|\s*indent\s+(\d+)", expr)
    if m:
        text = yaml.safe_dump(lookup(ctx, m.group(1)), default_flow_style=False, sort_keys=False)
        pad = " " * int(m.group(2))
        return "\n".join(pad + line for line in text.rstrip("\n").split("\n"))
    m = re.fullmatch(r"(\.[\w.]+)(\s*\|\s*quote)?", expr)
    if m:
        v = scalar(lookup(ctx, m.group(1)))
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' if m.group(2) else v
    raise ValueError(f"{path}: unsupported template construct {{{{ {expr} }}}} (teach "
                     "check_manifests.py, or keep the chart to plain substitutions)")


def render_chart(namespace):
    values = yaml.safe_load(open(os.path.join(CHART, "values.yaml")))
    chart = yaml.safe_load(open(os.path.join(CHART, "Chart.yaml")))
    ctx = {"Values": values, "Release": {"Namespace": namespace, "Name": "fogmesh"},
           "Chart": {"Name": chart["name"], "Version": chart["version"],
                     "AppVersion": chart.get("appVersion", "")}}
    docs = []
    tdir = os.path.join(CHART, "templates")
    for name in sorted(os.listdir(tdir)):
        if not name.endswith((".yaml", ".yml")):
            continue
        path = os.path.join(tdir, name)
        text = ACTION.sub(lambda m: render_action(m.group(1), ctx, path), open(path).read())
        docs.append(text)
    return "\n---\n".join(docs), values, chart


def objects(text):
    out = {}
    for doc in yaml.safe_load_all(text):
        if doc:
            key = (doc["kind"], doc["metadata"]["name"])
            if key in out:
                raise ValueError(f"{key} twice")
            out[key] = doc
    return out


def diff(a, b, where=""):
    """First differences between two parsed YAML values, as readable lines."""
    if type(a) is not type(b):
        return [f"{where or '.'}: {a!r} != {b!r}"]
    if isinstance(a, dict):
        lines = []
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                lines.append(f"{where}.{k}: only in {'plain' if k in a else 'chart'}")
            else:
                lines += diff(a[k], b[k], f"{where}.{k}")
        return lines
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} items != {len(b)}"]
        return [line for i, (x, y) in enumerate(zip(a, b)) for line in diff(x, y, f"{where}[{i}]")]
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


def kubectl_dry_run(kubectl, kubeconfig, path):
    r = subprocess.run([kubectl, "--kubeconfig", kubeconfig, "apply", "--dry-run=server", "-f",
                        path], capture_output=True, text=True)
    if r.returncode != 0:
        return [f"kubectl apply --dry-run=server -f {path}: {r.stderr.strip()}"]
    print(r.stdout.strip())
    return []


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kubeconfig", help="also validate with kubectl apply --dry-run=server")
    ap.add_argument("--kubectl", default="kubectl")
    ap.add_argument("--operator", help="fogmesh-operator binary: check it takes the arguments")
    args = ap.parse_args()
    problems = []

    rendered, values, chart = render_chart(NAMESPACE)
    plain = objects(open(os.path.join(HERE, "operator.yaml")).read())
    ours = objects(rendered)
    for key, obj in ours.items():
        if key not in plain:
            problems.append(f"{key[0]} {key[1]}: in the chart, not in operator.yaml")
            continue
        problems += [f"{key[0]} {key[1]}{line}" for line in diff(plain[key], obj)]
    for key in plain:
        if key not in ours and key[0] != "Namespace":
            problems.append(f"{key[0]} {key[1]}: in operator.yaml, not in the chart")

    crds = sorted(f for f in os.listdir(os.path.join(HERE, "crds")) if f.endswith(".json"))
    chart_crds = sorted(os.listdir(os.path.join(CHART, "crds")))
    if crds != chart_crds:
        problems.append(f"chart crds/ {chart_crds} != crds/ {crds}")
    for f in set(crds) & set(chart_crds):
        if open(os.path.join(HERE, "crds", f)).read() != open(os.path.join(CHART, "crds", f)).read():
            problems.append(f"helm/fogmesh-operator/crds/{f} differs from crds/{f}")
    tag = str(values["image"]).rsplit(":", 1)[-1]
    if tag != str(chart.get("appVersion")):
        problems.append(f"values.yaml image tag {tag} != Chart.yaml appVersion "
                        f"{chart.get('appVersion')}")

    if args.operator:
        for key, obj in ours.items():
            if key[0] != "Deployment":
                continue
            for c in obj["spec"]["template"]["spec"]["containers"]:
                r = subprocess.run([args.operator] + [str(a) for a in c.get("args", [])] +
                                   ["--help"], capture_output=True, text=True)
                if r.returncode != 0:
                    problems.append(f"{key[1]}: {args.operator} refuses the container's args "
                                    f"{c.get('args')}: {r.stderr.strip()}")

    if args.kubeconfig and not problems:
        with tempfile.TemporaryDirectory() as tmp:
            rendered_path = os.path.join(tmp, "chart.yaml")
            with open(rendered_path, "w") as f:
                f.write(rendered)
            problems += kubectl_dry_run(args.kubectl, args.kubeconfig, os.path.join(HERE, "crds"))
            # The CRDs for real (the Role names their resources; a dry run creates nothing).
            subprocess.run([args.kubectl, "--kubeconfig", args.kubeconfig, "apply", "-f",
                            os.path.join(HERE, "crds")], check=True, capture_output=True)
            subprocess.run([args.kubectl, "--kubeconfig", args.kubeconfig, "create", "namespace",
                            NAMESPACE], capture_output=True)  # AlreadyExists is fine
            problems += kubectl_dry_run(args.kubectl, args.kubeconfig,
                                        os.path.join(HERE, "operator.yaml"))
            problems += kubectl_dry_run(args.kubectl, args.kubeconfig, rendered_path)
            # controller-postgres.yaml's namespace for real (its objects are checked inside it).
            subprocess.run([args.kubectl, "--kubeconfig", args.kubeconfig, "create", "namespace",
                            "fogmesh"], capture_output=True)  # AlreadyExists is fine
            for plain_file in ("kubelet.yaml", "example-controlplane.yaml",
                               "controller-postgres.yaml"):
                problems += kubectl_dry_run(args.kubectl, args.kubeconfig,
                                            os.path.join(HERE, plain_file))

    for p in problems:
        print("check_manifests:", p, file=sys.stderr)
    if not problems:
        print(f"check_manifests: chart ({len(ours)} objects) and operator.yaml agree; CRDs in "
              f"sync{'; the operator takes its arguments' if args.operator else ''}"
              f"{'; API server dry run passed' if args.kubeconfig else ''}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
