#!/usr/bin/env python3
"""Benchmarks of fogmesh's Kubernetes side (issue 9) against a real kube-apiserver and a real
fogmesh-controller (embedded PostgreSQL), driven through their REST APIs only.

  k8sbench.py --kubeconfig FILE --bin-dir DIR --controller BIN [phases...]

Phases (default: all, in this order):
  operator  ControlPlane create -> `ready` (children written, admin signed up, router
            registered), then 100 Application CRs -> all 100 applications in the controller
  idle      idle RSS of fogmesh-operator, fogmesh-port-manager and fogmesh-kubelet
  kubelet   a fleet of --agents agents and --microservices microservices in the controller, then
            fogmesh-kubelet: time to show it all, RSS, API requests per verb/resource in a quiet
            window (from the API server's own /metrics), then every agent changes status -> time
            until every Node shows it

Standard library only. The kubeconfig must hold a bearer token and the CA as
certificate-authority-data (what scripts/kube-apiserver-up.sh writes). Every process started here
is stopped on exit. Figures go to stdout, one `RESULT name value unit` line each.
"""
import argparse
import base64
import concurrent.futures
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse


def log(msg):
    print(f"[k8sbench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def result(name, value, unit, note=""):
    print(f"RESULT {name} {value} {unit}{'  # ' + note if note else ''}", flush=True)


class ApiError(Exception):
    def __init__(self, status, body, what):
        super().__init__(f"{what}: HTTP {status}: {body[:300]}")
        self.status = status


# --- Kubernetes API ---------------------------------------------------------------------------


def read_kubeconfig(path):
    """server, token and CA of the current context's cluster/user (the simple shape that
    kube-apiserver-up.sh writes: one cluster, one user)."""
    text = open(path).read()

    def one(key):
        m = re.search(r"^\s*" + re.escape(key) + r":\s*(\S+)\s*$", text, re.M)
        return m.group(1) if m else None

    server, token, ca = one("server"), one("token"), one("certificate-authority-data")
    if not (server and token and ca):
        sys.exit(f"k8sbench: {path} needs server, token and certificate-authority-data")
    return server, token, base64.b64decode(ca).decode()


def keep_alive_request(local, connect, method, path, data, headers, ok):
    """One request on this thread's keep-alive connection (local.conn, made by connect());
    a connection the server has closed meanwhile is replaced once. Returns (response,
    payload); a status not in `ok` raises ApiError."""
    for attempt in (1, 2):
        try:
            c = getattr(local, "conn", None)
            if c is None:
                c = local.conn = connect()
            c.request(method, path, body=data, headers=headers)
            r = c.getresponse()
            payload = r.read()
            break
        except (http.client.HTTPException, OSError):
            local.conn = None
            if attempt == 2:
                raise
    if r.status not in ok:
        raise ApiError(r.status, payload.decode(errors="replace"), f"{method} {path}")
    return r, payload


class Kube:
    """One keep-alive HTTPS connection per thread to the API server."""

    def __init__(self, kubeconfig):
        server, self.token, ca = read_kubeconfig(kubeconfig)
        u = urllib.parse.urlparse(server)
        self.host, self.port = u.hostname, u.port or 443
        self.ctx = ssl.create_default_context(cadata=ca)
        self.local = threading.local()

    def call(self, method, path, body=None, content_type="application/json", ok=(200, 201)):
        data = None if body is None else (body if isinstance(body, str) else json.dumps(body))
        headers = {"Authorization": "Bearer " + self.token, "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = content_type
        r, payload = keep_alive_request(
            self.local,
            lambda: http.client.HTTPSConnection(self.host, self.port, context=self.ctx,
                                                timeout=120),
            method, path, data, headers, ok)
        ctype = r.getheader("Content-Type", "")
        return json.loads(payload) if payload and "json" in ctype else payload.decode()

    def call_accept(self, method, path, body, content_type, accept):
        """A call whose answer (of type `accept`, e.g. protobuf) is read and dropped."""
        headers = {"Authorization": "Bearer " + self.token, "Accept": accept,
                   "Content-Type": content_type}
        keep_alive_request(
            self.local,
            lambda: http.client.HTTPSConnection(self.host, self.port, context=self.ctx,
                                                timeout=120),
            method, path, json.dumps(body), headers, (200, 201))

    def raw(self, method, path):
        """The response body as bytes (e.g. a pprof profile)."""
        c = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=600)
        try:
            c.request(method, path, headers={"Authorization": "Bearer " + self.token})
            r = c.getresponse()
            payload = r.read()
            if r.status != 200:
                raise ApiError(r.status, payload.decode(errors="replace"), f"{method} {path}")
            return payload
        finally:
            c.close()

    def exists(self, path):
        try:
            self.call("GET", path)
            return True
        except ApiError as e:
            if e.status == 404:
                return False
            raise

    def request_counts(self):
        """apiserver_request_total summed per (verb, resource/subresource), from /metrics."""
        text = self.call("GET", "/metrics")
        counts = {}
        for line in text.splitlines():
            if not line.startswith("apiserver_request_total{"):
                continue
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line[: line.rindex("}")]))
            key = labels.get("verb", "?") + " " + labels.get("resource", "")
            if labels.get("subresource"):
                key += "/" + labels["subresource"]
            counts[key] = counts.get(key, 0) + float(line.rsplit(" ", 1)[1])
        return counts

    def watch(self, path, on_event, stop):
        """List, then watch `path` from the list's resourceVersion, calling on_event(type,
        obj) for every item and event, until stop is set. Runs in its own connection."""
        listing = self.call("GET", path)
        for item in listing.get("items", []):
            on_event("ADDED", item)
        rv = listing["metadata"]["resourceVersion"]
        while not stop.is_set():
            c = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=660)
            sep = "&" if "?" in path else "?"
            c.request("GET", f"{path}{sep}watch=1&allowWatchBookmarks=true&resourceVersion={rv}"
                      "&timeoutSeconds=600", headers={"Authorization": "Bearer " + self.token})
            r = c.getresponse()
            if r.status != 200:
                raise ApiError(r.status, r.read().decode(errors="replace"), "watch " + path)
            buf = b""
            while not stop.is_set():
                chunk = r.read1(65536)
                if not chunk:
                    break
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    ev = json.loads(line)
                    if ev["type"] == "ERROR":
                        raise RuntimeError(f"watch {path}: {ev['object']}")
                    rv = ev["object"]["metadata"]["resourceVersion"]
                    if ev["type"] != "BOOKMARK":
                        on_event(ev["type"], ev["object"])
            c.close()


class NodeTracker:
    """The Ready status of every Node, kept by a watch (no polling of big lists)."""

    def __init__(self, kube):
        self.ready = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self._run, args=(kube,), daemon=True)
        self.thread.start()

    def _run(self, kube):
        try:
            kube.watch("/api/v1/nodes", self._event, self.stop)
        except Exception as e:  # reported by wait()
            self.error = e

    def _event(self, kind, node):
        name = node["metadata"]["name"]
        status = "?"
        for c in (node.get("status") or {}).get("conditions") or []:
            if c.get("type") == "Ready":
                status = c.get("status")
        with self.lock:
            if kind == "DELETED":
                self.ready.pop(name, None)
            else:
                self.ready[name] = status

    def count(self, status=None):
        with self.lock:
            return sum(1 for s in self.ready.values() if status is None or s == status)


def count_objects(kube, path):
    """How many objects a collection holds: a limit=1 list's remainingItemCount + 1."""
    r = kube.call("GET", path + "?limit=1")
    return len(r["items"]) + int(r["metadata"].get("remainingItemCount") or 0)


# --- controller -------------------------------------------------------------------------------


class Controller:
    def __init__(self, port):
        self.port = port
        self.local = threading.local()
        self.token = None

    def call(self, method, path, body=None, token=None, ok=(200, 201, 204)):
        headers = {}
        auth = token if token is not None else self.token
        if auth:
            headers["Authorization"] = auth
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        _, payload = keep_alive_request(
            self.local, lambda: http.client.HTTPConnection("127.0.0.1", self.port, timeout=120),
            method, "/api/v3" + path, data, headers, ok)
        return json.loads(payload) if payload else None

    def login(self, email, password):
        self.token = self.call("POST", "/user/login", {"email": email, "password": password})[
            "accessToken"]


def controller_responses(ctl):
    """fogmesh_controller_responses_total summed over status classes (its /metrics)."""
    c = http.client.HTTPConnection("127.0.0.1", ctl.port, timeout=30)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    c.close()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("fogmesh_controller_responses_total{"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    """Children started here; all stopped (SIGTERM, then SIGKILL) by stop_all()."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.children = []

    def start(self, name, args):
        logf = open(os.path.join(self.log_dir, name + ".log"), "ab")
        p = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT)
        p.bench_name = name
        self.children.append(p)
        return p

    def stop(self, p):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p in self.children:
            self.children.remove(p)
        return p.returncode

    def stop_all(self):
        for p in reversed(list(self.children)):
            self.stop(p)


def proc_status(pid, key):
    """VmRSS / VmHWM in MB from /proc/PID/status."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until(pred, timeout, what, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return time.monotonic()
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}")


def condition_true(obj):
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("status") == "True":
            return c.get("type")
    return ""


def load_average():
    return open("/proc/loadavg").read().split()[0]


# --- phases -----------------------------------------------------------------------------------


def install_crds(kube, crd_dir):
    for name in sorted(os.listdir(crd_dir)):
        if not name.endswith(".json"):
            continue
        crd = json.load(open(os.path.join(crd_dir, name)))
        path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        if not kube.exists(f"{path}/{crd['metadata']['name']}"):
            kube.call("POST", path, crd)
        wait_until(lambda: any(
            c["type"] == "Established" and c["status"] == "True"
            for c in kube.call("GET", f"{path}/{crd['metadata']['name']}")
            .get("status", {}).get("conditions") or []), 30, "CRD established", 0.1)


def create_namespace(kube, ns):
    kube.call("POST", "/api/v1/namespaces",
              {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})


def wait_lease(kube, ns, name, timeout=30):
    def held():
        try:
            lease = kube.call("GET", f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}")
            return bool(lease.get("spec", {}).get("holderIdentity"))
        except ApiError as e:
            if e.status == 404:
                return False
            raise

    wait_until(held, timeout, f"Lease {ns}/{name}", 0.05)


def phase_operator(args, kube, ctl, procs, email, password):
    ns = f"bench-op-{os.getpid()}"
    create_namespace(kube, ns)
    op = procs.start("operator", [os.path.join(args.bin_dir, "fogmesh-operator"),
                                  "--kubeconfig", args.kubeconfig, "--namespace", ns,
                                  "--controller-url", f"http://127.0.0.1:{ctl.port}"])
    wait_lease(kube, ns, "fogmesh-operator")
    cp = {"apiVersion": "iofog.org/v3", "kind": "ControlPlane",
          "metadata": {"name": "iofog", "namespace": ns},
          "spec": {"user": {"name": "Ada", "surname": "Admin", "email": email,
                            "password": base64.b64encode(password.encode()).decode()},
                   "services": {"controller": {"type": "ClusterIP"},
                                "router": {"type": "LoadBalancer"}}}}
    cp_path = f"/apis/iofog.org/v3/namespaces/{ns}/controlplanes"
    t0 = time.monotonic()
    kube.call("POST", cp_path, cp)

    def ready():
        obj = kube.call("GET", cp_path + "/iofog")
        return (condition_true(obj) == "ready" and
                obj["status"].get("observedGeneration") == obj["metadata"]["generation"])

    t1 = wait_until(ready, 60, "ControlPlane ready", 0.01)
    children = 0
    sel = urllib.parse.quote("iofog.org/control-plane=iofog")
    for coll in ("api/v1/serviceaccounts", "api/v1/secrets", "api/v1/configmaps",
                 "api/v1/services", "api/v1/persistentvolumeclaims", "apis/apps/v1/deployments",
                 "apis/rbac.authorization.k8s.io/v1/roles",
                 "apis/rbac.authorization.k8s.io/v1/rolebindings"):
        parts = coll.rsplit("/", 1)
        children += len(kube.call("GET", f"/{parts[0]}/namespaces/{ns}/{parts[1]}"
                                         f"?labelSelector={sel}")["items"])
    result("operator_controlplane_ready_s", f"{t1 - t0:.2f}", "s",
           f"{children} children written, admin signed up + logged in, router registered")

    # 100 Application CRs, each with one microservice on an agent of the admin user.
    ctl.login(email, password)
    ctl.call("POST", "/iofog", {"name": "op-bench-agent", "fogType": 1, "routerMode": "none"})
    app_path = f"/apis/iofog.org/v3/namespaces/{ns}/apps"
    n = args.applications
    t0 = time.monotonic()
    for i in range(n):
        kube.call("POST", app_path, {
            "apiVersion": "iofog.org/v3", "kind": "Application",
            "metadata": {"name": f"app-{i:03d}", "namespace": ns},
            "spec": {"microservices": [{
                "name": f"m-{i:03d}", "agent": {"name": "op-bench-agent"},
                "images": {"x86": "busybox:1", "arm": "busybox:1"},
                "container": {"env": [{"key": "INDEX", "value": str(i)}]}}], "routes": []}})
    t_created = time.monotonic()

    def in_controller():
        names = {a["name"] for a in ctl.call("GET", "/application")["applications"]}
        return all(f"app-{i:03d}" in names for i in range(n))

    t1 = wait_until(in_controller, 120, f"{n} applications in the controller", 0.05)

    def all_ready():
        items = kube.call("GET", app_path)["items"]
        return sum(1 for a in items if condition_true(a) == "ready") == n

    t2 = wait_until(all_ready, 120, f"{n} Application CRs ready", 0.1)
    result("operator_applications_in_controller_s", f"{t1 - t0:.2f}", "s",
           f"{n} CRs created in {t_created - t0:.2f} s (sequential POSTs); all `ready` after "
           f"{t2 - t0:.2f} s")
    result("operator_rss_after_apps_mb", f"{proc_status(op.pid, 'VmRSS'):.1f}", "MB",
           f"peak {proc_status(op.pid, 'VmHWM'):.1f} MB")
    return op, ns


def idle_rss(p, settle):
    time.sleep(settle)
    return proc_status(p.pid, "VmRSS"), proc_status(p.pid, "VmHWM")


def phase_idle(args, kube, ctl, procs, email, password, op):
    url = f"http://127.0.0.1:{ctl.port}"
    if op is not None:
        rss, hwm = idle_rss(op, args.settle)
        result("idle_rss_operator_mb", f"{rss:.1f}", "MB",
               f"leader, one ready ControlPlane + {args.applications} Applications watched, "
               f"peak {hwm:.1f} MB")
    ns = f"bench-idle-{os.getpid()}"
    create_namespace(kube, ns)
    pm = procs.start("port-manager", [
        os.path.join(args.bin_dir, "fogmesh-port-manager"), "--kubeconfig", args.kubeconfig,
        "--namespace", ns, "--controller-url", url, "--email", email, "--password", password,
        "--router-address", "router:5672", "--proxy-image", "localhost/fogmesh/proxy:bench"])
    # What an idle port manager asks of the controller: every answer it gets, from the
    # controller's own response counter, while nothing else talks to it.
    wait_lease(kube, ns, "fogmesh-port-manager")
    time.sleep(3)
    r0, w0 = controller_responses(ctl), time.monotonic()
    time.sleep(args.window)
    r1, w1 = controller_responses(ctl), time.monotonic()
    per_min = (r1 - r0 - 1) * 60 / (w1 - w0)  # minus our first scrape's own answer
    result("idle_port_manager_controller_requests_per_min", f"{per_min:.1f}", "req/min",
           f"{int(r1 - r0 - 1)} controller answers in {w1 - w0:.0f} s (public-port reads)")
    kl_email = f"idle-kubelet-{os.getpid()}@example.com"
    ctl.call("POST", "/user/signup", {"firstName": "Idle", "lastName": "Kubelet",
                                      "email": kl_email, "password": password}, token="")
    kl = procs.start("kubelet-idle", [
        os.path.join(args.bin_dir, "fogmesh-kubelet"), "--kubeconfig", args.kubeconfig,
        "--namespace", ns, "--controller-url", url, "--email", kl_email, "--password", password])
    wait_lease(kube, ns, "fogmesh-port-manager")
    wait_lease(kube, ns, "fogmesh-kubelet")
    rss, hwm = idle_rss(pm, args.settle)
    result("idle_rss_port_manager_mb", f"{rss:.1f}", "MB",
           f"leader, no public port, following the controller; peak {hwm:.1f} MB")
    rss, hwm = proc_status(kl.pid, "VmRSS"), proc_status(kl.pid, "VmHWM")
    result("idle_rss_kubelet_mb", f"{rss:.1f}", "MB", f"leader, empty fleet; peak {hwm:.1f} MB")
    for p in (pm, kl):
        rc = procs.stop(p)
        if rc != 0:
            log(f"{p.bench_name} exited {rc}")


def build_fleet(args, ctl, password):
    """--agents agents (provisioned, RUNNING) and --microservices microservices spread over
    them in applications of 100, under a fresh user; returns (email, [(uuid, agent token)])."""
    email = f"fleet-{os.getpid()}@example.com"
    ctl.call("POST", "/user/signup", {"firstName": "Fleet", "lastName": "Owner", "email": email,
                                      "password": password}, token="")
    ctl.login(email, password)
    t0 = time.monotonic()

    def make_agent(i):
        # statusFrequency 600: the controller marks an agent UNKNOWN after three silent
        # periods; these simulated agents report only when told, and a real agent's unchanged
        # report every 10 s changes nothing the kubelet shows.
        fog = ctl.call("POST", "/iofog", {"name": f"agent-{i:05d}", "fogType": 1,
                                          "routerMode": "none", "statusFrequency": 600})
        key = ctl.call("GET", f"/iofog/{fog['uuid']}/provisioning-key")["key"]
        tok = ctl.call("POST", "/agent/provision", {"key": key, "type": 1}, token="")["token"]
        return fog["uuid"], tok

    with concurrent.futures.ThreadPoolExecutor(args.parallel) as pool:
        agents = list(pool.map(make_agent, range(args.agents)))
    t1 = time.monotonic()
    apps = (args.microservices + 99) // 100
    for a in range(apps):
        ctl.call("POST", "/application", {"name": f"fleet-app-{a:03d}", "isActivated": True})

    def make_msvc(i):
        fog = agents[i % len(agents)][0]
        m = ctl.call("POST", "/microservices", {
            "name": f"m-{i:05d}", "application": f"fleet-app-{i // 100:03d}", "iofogUuid": fog,
            "images": [{"containerImage": "busybox:1", "fogTypeId": 1}]})
        return fog, m["uuid"]

    with concurrent.futures.ThreadPoolExecutor(args.parallel) as pool:
        msvcs = list(pool.map(make_msvc, range(args.microservices)))
    t2 = time.monotonic()
    by_fog = {}
    for fog, uuid in msvcs:
        by_fog.setdefault(fog, []).append(uuid)
    report_status(args, ctl, agents, by_fog, "RUNNING")
    log(f"fleet: {len(agents)} agents in {t1 - t0:.1f} s, {len(msvcs)} microservices in "
        f"{apps} applications in {t2 - t1:.1f} s, statuses in {time.monotonic() - t2:.1f} s")
    return email, agents, by_fog


def report_status(args, ctl, agents, by_fog, daemon_status):
    """Every agent PUTs /agent/status as its agent would (its microservices RUNNING)."""

    def put(agent):
        uuid, tok = agent
        ms = [{"id": m, "status": "RUNNING", "containerId": m[:12], "percentage": 100}
              for m in by_fog.get(uuid, [])]
        ctl.call("PUT", "/agent/status", {"daemonStatus": daemon_status, "memoryUsage": 100,
                                          "ipAddress": "192.0.2.1", "microserviceStatus":
                                          json.dumps(ms), "lastStatusTime": 1}, token=tok)

    with concurrent.futures.ThreadPoolExecutor(args.parallel) as pool:
        list(pool.map(put, agents))


def phase_kubelet(args, kube, ctl, procs, password):
    email, agents, by_fog = build_fleet(args, ctl, password)
    ns = f"bench-kl-{os.getpid()}"
    create_namespace(kube, ns)
    tracker = NodeTracker(kube)
    before = kube.request_counts()
    t0 = time.monotonic()
    kl = procs.start("kubelet", [
        os.path.join(args.bin_dir, "fogmesh-kubelet"), "--kubeconfig", args.kubeconfig,
        "--namespace", ns, "--controller-url", f"http://127.0.0.1:{ctl.port}", "--email", email,
        "--password", password])
    n_agents, n_msvcs = len(agents), sum(len(v) for v in by_fog.values())
    peak = [0.0]

    def sample():
        peak[0] = max(peak[0], proc_status(kl.pid, "VmRSS"))
        return True

    t_nodes = wait_until(lambda: sample() and tracker.count("True") >= n_agents, 600,
                         f"{n_agents} Ready Nodes", 0.2)
    t_pods = wait_until(
        lambda: sample() and count_objects(kube, f"/api/v1/namespaces/{ns}/pods") >= n_msvcs, 600,
        f"{n_msvcs} Pods", 0.5)
    # The pass that created them also writes their status: wait until the kubelet is idle.
    wait_until(lambda: sample() and _requests_settled(kube), 600, "kubelet idle", 1)
    after_initial = kube.request_counts()
    result("kubelet_initial_sync_s", f"{max(t_nodes, t_pods) - t0:.1f}", "s",
           f"{n_agents} Nodes Ready after {t_nodes - t0:.1f} s, {n_msvcs} Pods after "
           f"{t_pods - t0:.1f} s; requests: {breakdown(before, after_initial)}")

    # Quiet window: nothing changes in the fleet; what the kubelet still asks of the API server.
    time.sleep(2)
    ctl_pid = args.controller_pid
    c0, cpu0, w0 = kube.request_counts(), cpu_seconds(kl.pid), time.monotonic()
    ctl_cpu0 = cpu_seconds(ctl_pid)
    end = w0 + args.window
    while time.monotonic() < end:
        sample()
        time.sleep(0.5)
    c1, cpu1, w1 = kube.request_counts(), cpu_seconds(kl.pid), time.monotonic()
    ctl_cpu1 = cpu_seconds(ctl_pid)
    span = w1 - w0
    delta = request_delta(c0, c1)
    total = sum(delta.values())
    lists = sum(v for k, v in delta.items() if k.startswith("LIST"))
    result("kubelet_steady_requests_per_s", f"{total / span:.1f}", "req/s",
           f"{int(total)} requests in a {span:.0f} s quiet window, LIST {int(lists)} "
           f"({breakdown(c0, c1)})")
    result("kubelet_steady_cpu_percent", f"{100 * (cpu1 - cpu0) / span:.1f}", "%",
           "of one core, default --sync-interval (one fog list + one microservice list per tick); "
           f"the controller serving those reads: {100 * (ctl_cpu1 - ctl_cpu0) / span:.1f} % "
           "(its process only, not PostgreSQL)")
    result("kubelet_rss_mb", f"{proc_status(kl.pid, 'VmRSS'):.1f}", "MB",
           f"steady; peak {max(peak[0], proc_status(kl.pid, 'VmHWM')):.1f} MB (VmHWM)")

    # Every agent changes status at once: time until every Node shows it.
    c0 = kube.request_counts()
    server_cpu0 = server_cpu(args)
    kl_cpu0 = cpu_seconds(kl.pid)
    perf = None
    if args.perf:  # where the kubelet's own time goes during the status pass
        perf = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-g", "-p",
                                 str(kl.pid), "-o", os.path.join(procs.log_dir, "perf.data")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pprof = None
    if args.pprof_apiserver > 0:  # where the API server's time goes (its binary is stripped)
        pprof_file = os.path.join(procs.log_dir, "apiserver.pprof")

        def fetch():
            data = kube.raw("GET", f"/debug/pprof/profile?seconds={int(args.pprof_apiserver)}")
            with open(pprof_file, "wb") as f:
                f.write(data)
        pprof = threading.Thread(target=fetch)
        pprof.start()
    t0 = time.monotonic()
    report_status(args, ctl, agents, by_fog, "STOPPED")
    t_reported = time.monotonic()
    t1 = wait_until(lambda: sample() and tracker.count("False") >= n_agents, 300,
                    "every Node Ready=False", 0.05)
    wait_until(lambda: sample() and _requests_settled(kube), 300, "kubelet idle", 1)
    kl_cpu = cpu_seconds(kl.pid) - kl_cpu0
    if perf is not None:
        perf.send_signal(signal.SIGINT)
        perf.wait()
        log(f"perf profile of the kubelet: perf report -i {procs.log_dir}/perf.data")
    if pprof is not None:
        pprof.join()
        log(f"CPU profile of kube-apiserver: go tool pprof -top {pprof_file}")
    result("kubelet_all_nodes_status_sync_s", f"{t1 - t_reported:.1f}", "s",
           f"after the last of {n_agents} agents reported STOPPED (reports took "
           f"{t_reported - t0:.1f} s); includes up to one --sync-interval of waiting; "
           f"requests: {breakdown(c0, kube.request_counts())}")
    sync_ms = last_sync_ms(os.path.join(procs.log_dir, "kubelet.log"))
    if sync_ms is not None:
        note = (f"the kubelet pass that wrote the {sync_ms[0]} status changes; the kubelet's "
                f"CPU from the first report to idle: {kl_cpu:.1f} s")
        if server_cpu0 is not None:
            used = {k: v - server_cpu0[k] for k, v in server_cpu(args).items()}
            note += (f"; CPU meanwhile (incl. the agents' reports and the controller's reads): "
                     f"kube-apiserver {used['apiserver']:.1f} s, etcd {used['etcd']:.1f} s")
        result("kubelet_status_pass_ms", sync_ms[1], "ms", note)
    result("kubelet_rss_peak_mb", f"{max(peak[0], proc_status(kl.pid, 'VmHWM')):.1f}", "MB",
           "VmHWM over the whole run")
    tracker.stop.set()
    rc = procs.stop(kl)
    if rc != 0:
        log(f"kubelet exited {rc}")


def server_cpu(args):
    """CPU seconds used so far by kube-apiserver and etcd (--apiserver-state), else None."""
    if not args.apiserver_state:
        return None
    out = {}
    for name, pidfile in (("apiserver", "apiserver.pid"), ("etcd", "etcd.pid")):
        with open(os.path.join(args.apiserver_state, pidfile)) as f:
            out[name] = cpu_seconds(int(f.read().strip()))
    return out


def request_delta(c0, c1):
    delta = {k: v - c0.get(k, 0) for k, v in c1.items() if v - c0.get(k, 0) > 0}
    # Our own /metrics scrapes (GET of no resource) and watches are not the kubelet's.
    delta.pop("GET ", None)
    return delta


def breakdown(c0, c1):
    return ", ".join(f"{k}: {int(v)}" for k, v in sorted(request_delta(c0, c1).items()))


def _requests_settled(kube, quiet=3.0):
    """True when no Node/Pod write reached the API server for `quiet` seconds."""
    def writes():
        return sum(v for k, v in kube.request_counts().items()
                   if k.split()[0] in ("POST", "PATCH", "PUT", "DELETE")
                   and k.split()[1].split("/")[0] in ("nodes", "pods"))
    w0 = writes()
    time.sleep(quiet)
    return writes() == w0


def last_sync_ms(path):
    """(writes, ms) of the kubelet's last `sync: N writes in M ms` debug line."""
    found = None
    try:
        for line in open(path, errors="replace"):
            m = re.search(r"sync: (\d+) writes in (\d+) ms", line)
            if m:
                found = (int(m.group(1)), int(m.group(2)))
    except OSError:
        pass
    return found


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--bin-dir", required=True, help="directory of the three k8s binaries")
    ap.add_argument("--controller", required=True, help="fogmesh-controller binary")
    ap.add_argument("--crds", default=os.path.join(root, "deploy/kubernetes/crds"))
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--microservices", type=int, default=5000)
    ap.add_argument("--applications", type=int, default=100)
    ap.add_argument("--window", type=float, default=60, help="quiet window, s (default 60)")
    ap.add_argument("--settle", type=float, default=10, help="idle time before RSS, s")
    ap.add_argument("--parallel", type=int, default=8, help="controller connections for set-up")
    ap.add_argument("--perf", action="store_true",
                    help="perf record (cpu-clock) the kubelet during the status pass")
    ap.add_argument("--pprof-apiserver", type=float, default=0, metavar="S",
                    help="CPU profile of kube-apiserver (its /debug/pprof/profile) for S seconds "
                    "from the first status report; read with `go tool pprof -top FILE`")
    ap.add_argument("--apiserver-state", help="K8S_STATE of kube-apiserver-up.sh (its pids: "
                    "CPU used by kube-apiserver and etcd)")
    ap.add_argument("phases", nargs="*", default=["operator", "idle", "kubelet"])
    args = ap.parse_args()
    for p in args.phases:
        if p not in ("operator", "idle", "kubelet"):
            ap.error(f"unknown phase {p}")

    kube = Kube(args.kubeconfig)
    work = tempfile.mkdtemp(prefix="k8sbench.")
    os.chmod(work, 0o755)  # the embedded PostgreSQL runs as `postgres` when we are root
    procs = Processes(work)
    log(f"logs in {work}; load average {load_average()}")
    try:
        port = free_port()
        procs.start("controller", [args.controller, "--port", str(port), "--bind", "127.0.0.1",
                                   "--data-dir", os.path.join(work, "controller"),
                                   "--log-level", "warn"])
        ctl = Controller(port)
        args.controller_pid = procs.children[-1].pid
        wait_until(lambda: _up(ctl), 60, "controller up", 0.1)
        install_crds(kube, args.crds)
        email, password = f"admin-{os.getpid()}@example.com", "bench-password-1"
        op = None
        if "operator" in args.phases:
            op, _ = phase_operator(args, kube, ctl, procs, email, password)
        if "idle" in args.phases:
            if op is None:
                ctl.call("POST", "/user/signup", {"firstName": "Idle", "lastName": "Admin",
                                                  "email": email, "password": password}, token="")
            phase_idle(args, kube, ctl, procs, email, password, op)
        if op is not None:
            procs.stop(op)  # the kubelet's request counts are its own
        if "kubelet" in args.phases:
            phase_kubelet(args, kube, ctl, procs, password)
        log(f"done; load average {load_average()}")
    finally:
        procs.stop_all()
        # The controller's PostgreSQL cluster is large and of no use afterwards; logs stay.
        shutil.rmtree(os.path.join(work, "controller"), ignore_errors=True)


def _up(ctl):
    try:
        ctl.call("GET", "/status", token="")
        return True
    except (ApiError, OSError, http.client.HTTPException):
        return False


if __name__ == "__main__":
    main()
