#!/usr/bin/python3
"""End-to-end test of the whole system on one machine, as scripts/quickstart.sh runs it, with
assertions: fogctl starts a controller (embedded PostgreSQL) and three agents (hub: interior
router = the default router; edge-1 and edge-2: edge routers), deploys an application whose
sender on edge-1 sends ioMessages over a route to a receiver on edge-2 (edge -> interior ->
edge), and whose web microservice on edge-2 serves HTTP on a public port of hub's router.

Checks: ioMessages delivered across agents; the public port answers through the mesh;
`describe` output deployed again is a no-op; detaching the default router's agent is refused;
bad YAML gets a clear error and deploys nothing; delete removes the containers, the route and
the public port; the agents, their routers and the controller stop on SIGTERM with no
sanitizer report in their logs (ASan builds).

Real processes only: our binaries, podman's Docker-compatible service (private storage in a
temp dir, so it leaves nothing behind), images built offline from busybox-static.
Usage: e2e_test.py --build-dir BUILD_DIR. Exit 77 (skipped) without root, podman or busybox.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import demo_system as demo  # noqa: E402
import e2e_common  # noqa: E402

BUILD_DIR = None
# Deadlines are generous (ASan on two shared cores); the test never asserts on timing.
START_TIMEOUT = 240
MESSAGE_TIMEOUT = 120


def controlplane_yaml(ports, socket_path):
    return f"""apiVersion: iofog.org/v2
kind: LocalControlPlane
metadata: {{name: e2e}}
spec:
  iofogUser: {{name: End, surname: ToEnd, email: e2e@fogmesh.local, password: e2e-password}}
  controller: {{port: {ports['controller']}, bind: 127.0.0.1}}
---
apiVersion: iofog.org/v2
kind: LocalAgent
metadata: {{name: hub}}
spec:
  config:
    agentType: x86
    isSystem: true
    dockerUrl: unix://{socket_path}
    statusFrequency: 2
    availableDiskThreshold: 0
    routerConfig: {{routerMode: interior, messagingPort: {ports['hub-amqp']}, interRouterPort: {ports['hub-inter']}, edgeRouterPort: {ports['hub-edge']}}}
  localApiPort: 0
""" + "".join(f"""---
apiVersion: iofog.org/v2
kind: LocalAgent
metadata: {{name: {edge}}}
spec:
  config:
    agentType: x86
    dockerUrl: unix://{socket_path}
    statusFrequency: 2
    availableDiskThreshold: 0
    routerConfig: {{routerMode: edge, messagingPort: {ports[edge + '-amqp']}}}
  localApiPort: 0
""" for edge in ("edge-1", "edge-2"))


def app_yaml(ports):
    return f"""apiVersion: iofog.org/v2
kind: Application
metadata: {{name: e2e}}
spec:
  microservices:
  - name: sender
    agent: {{name: edge-1}}
    images: {{x86: localhost/quickstart-sender:1, registry: local}}
    config: {{intervalSeconds: 1}}
  - name: receiver
    agent: {{name: edge-2}}
    images: {{x86: localhost/quickstart-receiver:1, registry: local}}
  - name: web
    agent: {{name: edge-2}}
    images: {{x86: localhost/quickstart-web:1, registry: local}}
    container:
      ports:
      - {{internal: 8080, external: {ports['web']}, public: {{schemes: [http], protocol: http}}}}
  routes:
  - {{name: sender-to-receiver, from: sender, to: receiver}}
"""


# A good document (a registry) before a bad one: validation comes first, so neither is deployed.
BAD_YAML = """apiVersion: iofog.org/v2
kind: Registry
metadata: {name: fine}
spec: {url: registry.e2e.example, username: e2e, password: e2e-secret, email: e2e@example.com, private: true}
---
apiVersion: iofog.org/v2
kind: Application
metadata: {name: broken-app}
spec:
  microservices:
  - name: b
    agent: {name: edge-1}
    images: {x86: localhost/quickstart-web:1, registry: local}
    container:
      ports:
      - {internal: 8080, external: not-a-port}
"""


def port_refuses(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except OSError:
        return True


class EndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="fogmesh-e2e-")
        # fogctl keeps the controller's PostgreSQL data under FOGMESH_HOME only when the
        # postgres user can traverse to it.
        os.chmod(cls.tmp, 0o711)
        cls.podman = demo.Podman(os.path.join(cls.tmp, "podman"),
                                 os.path.join(cls.tmp, "podman", "podman.sock"),
                                 private_storage=True)
        cls.fogctl = demo.Fogctl(os.path.join(BUILD_DIR, "ctl", "fogctl"),
                                 os.path.join(cls.tmp, "home"), namespace="e2e")
        cls.agent_binary = os.path.join(BUILD_DIR, "agent", "fogmesh-agent")
        names = ["controller", "hub-amqp", "hub-inter", "hub-edge", "edge-1-amqp", "edge-2-amqp",
                 "web", "public"]
        cls.ports = {}
        held = []
        for name in names:  # held open together so no two names get the same port
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            held.append(s)
            cls.ports[name] = s.getsockname()[1]
        for s in held:
            s.close()
        # The controller allocates public ports from this range: just the one picked above.
        os.environ["FOGMESH_CONTROLLER_EXTRA_ARGS"] = f"--public-ports {cls.ports['public']}-{cls.ports['public'] + 1}"
        cls.podman.start()
        cls.podman.build_images(cls.tmp)
        deployed = cls.deploy_text("controlplane.yaml", controlplane_yaml(cls.ports, cls.podman.socket_path),
                                   timeout=START_TIMEOUT)
        print(deployed.stdout, flush=True)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.fogctl.run("delete", "controlplane", check=False)
        finally:
            cls.podman.cli("rm", "-a", "-f", "-t", "0", check=False)
            cls.podman.stop()
            with open("/proc/self/mounts") as f:
                mounts = [line.split()[1] for line in f
                          if len(line.split()) > 1 and line.split()[1].startswith(cls.tmp)]
            for m in sorted(mounts, reverse=True):
                subprocess.run(["umount", "-l", m], check=False)
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def deploy_text(cls, name, text, check=True, timeout=300):
        path = os.path.join(cls.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return cls.fogctl.run("deploy", "-f", path, check=check, timeout=timeout)

    def diagnostics(self):
        out = []
        for agent in ("hub", "edge-1", "edge-2"):
            log = os.path.join(self.fogctl.home, "namespaces", "e2e", "agents", agent, "agent.log")
            if os.path.exists(log):
                out.append(f"--- {agent} agent.log (tail)\n" + tail(log, 25))
            router_log = os.path.join(os.path.dirname(log), "config", "router", "router.log")
            if os.path.exists(router_log):
                out.append(f"--- {agent} router.log (tail)\n" + tail(router_log, 10))
        return "\n".join(out)

    def wait(self, what, condition, timeout):
        try:
            return demo.wait_for(what, condition, timeout, interval=1)
        except demo.StepFailed as e:
            self.fail(f"{e}\n{self.diagnostics()}")

    def microservices(self):
        return {m["name"]: m for m in self.fogctl.microservices("e2e")}

    def test_1_bad_yaml_is_refused_and_deploys_nothing(self):
        result = self.deploy_text("bad.yaml", BAD_YAML, check=False)
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn("bad.yaml: document 2 (Application 'broken-app')", result.stderr)
        self.assertIn("spec.microservices[0].container.ports[0].external", result.stderr)
        self.assertIn("Nothing was deployed.", result.stderr)
        self.assertNotIn("broken-app", [a["name"] for a in self.fogctl.json("get", "applications")])
        self.assertNotIn("registry.e2e.example", [r.get("url") for r in self.fogctl.json("get", "registries")])

    def test_2_application_runs_and_messages_cross_agents(self):
        out = self.deploy_text("app.yaml", app_yaml(self.ports)).stdout
        self.assertIn("Application 'e2e'", out)

        def running():
            ms = self.microservices()
            wanted = ("sender", "receiver", "web")
            return ms if all(demo.microservice_status(ms.get(n, {})) == "RUNNING" for n in wanted) else None
        ms = self.wait("sender, receiver and web RUNNING", running, START_TIMEOUT)
        receiver = demo.container_of(ms["receiver"])
        self.wait("ioMessages from sender (edge-1) at receiver (edge-2)",
                  lambda: demo.received_total(self.podman, receiver) >= 3, MESSAGE_TIMEOUT)
        self.assertIn("reading ", self.podman.logs(receiver))
        # They crossed the mesh: edge-1's agent sent them to its router, edge-2's took them from its own.
        sent = demo.agent_status(self.fogctl, "edge-1", self.agent_binary)
        got = demo.agent_status(self.fogctl, "edge-2", self.agent_binary)
        self.assertGreater(find_counter(sent, "messagesSentToRouter"), 0, sent)
        self.assertGreater(find_counter(got, "messagesFromRouter"), 0, got)

    def test_3_public_port_answers_through_the_mesh(self):
        ms = self.microservices()
        links = demo.public_links(ms["web"])
        self.assertTrue(links, ms["web"])
        self.assertTrue(links[0].endswith(f":{self.ports['public']}"), links)
        url = f"http://127.0.0.1:{self.ports['public']}/"
        body = self.wait(f"{url} answering", lambda: demo.http_get(url), MESSAGE_TIMEOUT)
        self.assertIn("Hello from the web microservice", body)
        # The public port lives on hub's router (the default router): detaching hub would drop
        # it and cut the edge routers off, so fogctl refuses and nothing changes.
        refused = self.fogctl.run("detach", "agent", "hub", check=False)
        self.assertEqual(refused.returncode, 1, refused.stdout + refused.stderr)
        self.assertIn("default router", refused.stderr)
        self.assertEqual(demo.public_links(self.microservices()["web"]), links)

    def test_4_describe_redeployed_is_a_no_op(self):
        before = self.microservices()
        containers_before = {c["Id"] for c in self.podman.containers()}
        described = self.fogctl.run("describe", "application", "e2e").stdout
        out = self.deploy_text("described.yaml", described).stdout
        self.assertIn("Application 'e2e': unchanged", out)
        # So is the original document (the public port's allocation is not in it).
        out = self.deploy_text("app.yaml", app_yaml(self.ports)).stdout
        self.assertIn("Application 'e2e': unchanged", out)
        after = self.microservices()
        for name in ("sender", "receiver", "web"):
            self.assertEqual(before[name]["uuid"], after[name]["uuid"])
            self.assertEqual(before[name].get("ports"), after[name].get("ports"))
        self.assertEqual(containers_before, {c["Id"] for c in self.podman.containers()})

    def test_5_delete_removes_containers_routes_and_ports(self):
        self.fogctl.run("delete", "application", "e2e")
        self.assertEqual([r for r in self.fogctl.json("get", "routes")
                          if r.get("application") == "e2e"], [])
        self.wait("the agents removing the application's containers",
                  lambda: not [c for c in self.podman.containers()
                               if any(n.startswith("iofog_") for n in c.get("Names", []))],
                  MESSAGE_TIMEOUT)
        self.wait(f"public port {self.ports['public']} closed on hub's router",
                  lambda: port_refuses(self.ports["public"]), MESSAGE_TIMEOUT)
        self.wait(f"web's host port {self.ports['web']} closed",
                  lambda: port_refuses(self.ports["web"]), MESSAGE_TIMEOUT)

    def test_6_processes_stop_cleanly_without_sanitizer_reports(self):
        ns = os.path.join(self.fogctl.home, "namespaces", "e2e")
        logs = []
        for agent in ("hub", "edge-1", "edge-2"):
            stop_by_pid_file(os.path.join(ns, "agents", agent, "agent.pid"))
            logs += [os.path.join(ns, "agents", agent, "agent.log"),
                     os.path.join(ns, "agents", agent, "config", "router", "router.log")]
        stop_by_pid_file(os.path.join(ns, "controller", "controller.pid"))
        logs.append(os.path.join(ns, "controller", "controller.log"))
        for log in logs:
            if not os.path.exists(log):
                continue
            with open(log, errors="replace") as f:
                text = f.read()
            for report in SANITIZER_REPORTS:
                self.assertNotIn(report, text, f"{log}:\n{text[max(0, text.find(report) - 2000):][:8000]}")

SANITIZER_REPORTS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def stop_by_pid_file(pid_file, timeout=60):
    """SIGTERM to the process in pid_file (fogctl's), then waits for it to be gone."""
    try:
        with open(pid_file) as f:
            pid = int(f.read().split()[0])
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError, IndexError):
        return
    demo.wait_for(f"pid {pid} ({pid_file}) to exit", lambda: not os.path.exists(f"/proc/{pid}")
                  or open_stat(pid).startswith("Z"), timeout, interval=0.2)


def open_stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].strip()
    except OSError:
        return "Z"


def tail(path, lines):
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-lines:])


def find_counter(status, key):
    """A counter from `fogmesh-agent status` JSON, wherever it is nested."""
    if isinstance(status, dict):
        if key in status and isinstance(status[key], int):
            return status[key]
        for v in status.values():
            found = find_counter(v, key)
            if found:
                return found
    return 0


if __name__ == "__main__":
    BUILD_DIR, argv = e2e_common.build_dir_or_skip("e2e")
    unittest.main(argv=argv, failfast=True, verbosity=2)
