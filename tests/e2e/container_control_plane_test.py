#!/usr/bin/python3
"""LocalControlPlane with spec.controller.container (iofogctl's local controller in a container):
fogctl runs fogmesh-controller from the image deploy/containers/build-images.sh builds offline
from this build tree, in podman (private storage in a temp dir, so it leaves nothing behind).

Checks: a missing image fails at the pull step, connects nothing, and the same deploy with the
image fixed finishes; the controller answers through the published port with its embedded
PostgreSQL in a named volume; a second deploy and a deploy of `describe controlplane` leave the
container alone; `get controllers`, `get namespaces`, `logs controller` see it; an agent run
natively on this machine is provisioned against it and reports RUNNING; `delete controlplane`
stops that agent and removes the container, its volume and the namespace's state.

Usage: container_control_plane_test.py --build-dir BUILD_DIR. Exit 77 (skipped) without root,
podman or busybox-static.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import demo_system as demo  # noqa: E402
import e2e_common  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = None
START_TIMEOUT = 240  # a deadline for waits, never a timing assertion (ASan, shared cores)


def controlplane_yaml(port, image):
    return f"""apiVersion: iofog.org/v2
kind: LocalControlPlane
metadata: {{name: boxed}}
spec:
  iofogUser: {{name: Contained, surname: Controller, email: boxed@fogmesh.local, password: boxed-password}}
  controller:
    port: {port}
    bind: 127.0.0.1
    container: {{image: {image}}}
"""


AGENT_YAML = """apiVersion: iofog.org/v2
kind: LocalAgent
metadata: {name: beside}
spec:
  config: {agentType: x86, dockerUrl: "unix:///nonexistent/podman.sock", statusFrequency: 2,
           routerConfig: {routerMode: none}}
  localApiPort: 0
"""


class ContainerControlPlane(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="fogmesh-ctr-")
        state = os.path.join(cls.tmp, "podman")
        os.makedirs(state)
        conf = os.path.join(state, "containers.conf")
        with open(conf, "w") as f:
            f.write(demo.CONTAINERS_CONF)
        cls.engine = ["podman", "--root", os.path.join(state, "storage"),
                      "--runroot", os.path.join(state, "run")]
        os.environ["CONTAINERS_CONF"] = conf
        os.environ["FOGMESH_CONTAINER_CLI"] = " ".join(cls.engine)
        os.environ.pop("FOGMESH_CONTROLLER_EXTRA_ARGS", None)
        cls.image = "localhost/fogmesh-controller:e2e"
        subprocess.run([os.path.join(ROOT, "deploy", "containers", "build-images.sh"), BUILD_DIR,
                        "e2e", "controller"], env=dict(os.environ, PODMAN=" ".join(cls.engine)),
                       check=True, stdout=subprocess.DEVNULL, timeout=600)
        cls.port = demo.free_port()
        cls.fogctl = demo.Fogctl(os.path.join(BUILD_DIR, "ctl", "fogctl"),
                                 os.path.join(cls.tmp, "home"), namespace="boxed")

    @classmethod
    def tearDownClass(cls):
        try:
            cls.fogctl.run("delete", "controlplane", check=False)
        finally:
            # Containers, volumes, images and the mounts of this private storage only.
            subprocess.run(cls.engine + ["system", "reset", "--force"], capture_output=True)
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def deploy(self, name, text, check=True):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return self.fogctl.run("deploy", "-f", path, check=check, timeout=START_TIMEOUT + 60)

    def engine_ok(self, *args):
        return subprocess.run(self.engine + list(args), capture_output=True).returncode == 0

    def test_1_missing_image_fails_at_the_pull_and_a_second_deploy_finishes(self):
        bad = self.deploy("missing.yaml", controlplane_yaml(self.port, "localhost/fogmesh-missing:1"),
                          check=False)
        self.assertEqual(bad.returncode, 1, bad.stdout + bad.stderr)
        self.assertIn("LocalControlPlane 'boxed'", bad.stderr)
        self.assertIn("pull image localhost/fogmesh-missing:1", bad.stderr)
        self.assertEqual(self.fogctl.json("get", "controllers"), [])
        good = self.deploy("controlplane.yaml", controlplane_yaml(self.port, self.image))
        self.assertIn(f"LocalControlPlane 'boxed': started at http://127.0.0.1:{self.port}",
                      good.stdout)
        self.assertTrue(self.engine_ok("volume", "exists", "fogmesh-controller-boxed-data"))

    def test_2_redeploys_leave_the_container_alone(self):
        before = subprocess.run(self.engine + ["inspect", "--format", "{{.Id}}",
                                               "fogmesh-controller-boxed"],
                                capture_output=True, text=True, check=True).stdout
        again = self.deploy("controlplane.yaml", controlplane_yaml(self.port, self.image))
        self.assertIn("LocalControlPlane 'boxed': running", again.stdout)
        described = self.fogctl.run("describe", "controlplane").stdout
        self.assertIn(f"image: {self.image}", described)
        again = self.deploy("described.yaml", described)
        self.assertIn("LocalControlPlane 'boxed': running", again.stdout)
        after = subprocess.run(self.engine + ["inspect", "--format", "{{.Id}}",
                                              "fogmesh-controller-boxed"],
                               capture_output=True, text=True, check=True).stdout
        self.assertEqual(before, after)

    def test_3_get_and_logs_see_it(self):
        controllers = self.fogctl.json("get", "controllers")
        self.assertEqual(len(controllers), 1, controllers)
        self.assertEqual(controllers[0]["status"], "online", controllers)
        self.assertEqual(controllers[0]["container"], "fogmesh-controller-boxed", controllers)
        namespaces = self.fogctl.json("get", "namespaces")
        self.assertIn({"name": "boxed", "endpoint": f"http://127.0.0.1:{self.port}",
                       "controlPlane": "container"}, namespaces)
        self.assertIn("listening on", self.fogctl.run("logs", "controller", "--tail", "50").stdout)

    def test_4_a_native_agent_runs_against_it(self):
        out = self.deploy("agent.yaml", AGENT_YAML).stdout
        self.assertIn("LocalAgent 'beside': created, provisioned, started", out)

        def running():
            return [a for a in self.fogctl.json("get", "agents")
                    if a.get("name") == "beside" and a.get("daemonStatus") == "RUNNING"]
        demo.wait_for("agent 'beside' RUNNING", running, START_TIMEOUT, interval=1)

    def test_5_delete_controlplane_removes_container_volume_and_state(self):
        pid_file = os.path.join(self.fogctl.home, "namespaces", "boxed", "agents", "beside",
                                "agent.pid")
        with open(pid_file) as f:
            agent_pid = int(f.read().split()[0])
        out = self.fogctl.run("delete", "controlplane", timeout=180).stdout
        self.assertIn("Removed container fogmesh-controller-boxed", out)
        self.assertFalse(self.engine_ok("container", "exists", "fogmesh-controller-boxed"))
        self.assertFalse(self.engine_ok("volume", "exists", "fogmesh-controller-boxed-data"))
        self.assertFalse(os.path.exists(os.path.join(self.fogctl.home, "namespaces", "boxed")))
        self.assertFalse(alive(agent_pid), "delete controlplane left the agent running")


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


if __name__ == "__main__":
    BUILD_DIR, argv = e2e_common.build_dir_or_skip("container control plane")
    unittest.main(argv=argv, failfast=True, verbosity=2)
