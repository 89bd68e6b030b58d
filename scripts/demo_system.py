#!/usr/bin/python3
"""The whole fogmesh system on one machine: podman's Docker-compatible service, the quickstart's
offline images, fogctl driving a local controller and agents, and what shows it works (message
counts, the public URL, `fogctl get all`).

Used by scripts/quickstart.sh (`demo_system.py up|status|stop`) and by the end-to-end test
(tests/e2e/), which runs the same steps on private ports, a private FOGMESH_HOME and a private
podman storage, and asserts on what the quickstart only prints.
"""

import argparse
import hashlib
import http.client
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE_DIR = os.path.join(ROOT, "examples", "quickstart")

# environment.md: on these hosts rootful podman needs runc (crun fails on cgroup-v1 hybrid),
# cgroupfs, and rlimits root is allowed to set.
CONTAINERS_CONF = """[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""

# The quickstart's images: one busybox-static rootfs holding the example's scripts, imported
# once per microservice with its own command.
IMAGES = {
    "localhost/quickstart-sender:1": ["/bin/sh", "/app/sender.sh"],
    "localhost/quickstart-receiver:1": ["/bin/sh", "/app/receiver.sh"],
    "localhost/quickstart-web:1": ["/bin/httpd", "-f", "-v", "-p", "8080", "-h", "/www"],
}


class StepFailed(Exception):
    pass


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def say(text):
    print(text, flush=True)


def wait_for(what, condition, timeout, interval=0.5):
    """Polls condition() until it returns something truthy; raises StepFailed naming `what`
    after `timeout` seconds (a deadline, never a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise StepFailed(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=5):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


class Podman:
    """podman's Docker-compatible API service on `socket_path`, and the podman CLI on the same
    storage. `private_storage` keeps images and containers under state_dir (tests); else the
    machine's default storage, so `podman ps` shows the quickstart's containers."""

    detached = []

    def __init__(self, state_dir, socket_path, private_storage=False):
        self.state_dir = state_dir
        self.socket_path = socket_path
        self.private_storage = private_storage
        self.conf = os.path.join(state_dir, "containers.conf")
        self.pid_file = os.path.join(state_dir, "podman-service.pid")
        self.log_file = os.path.join(state_dir, "podman-service.log")

    def base_command(self):
        cmd = ["podman"]
        if self.private_storage:
            cmd += ["--root", os.path.join(self.state_dir, "storage"),
                    "--runroot", os.path.join(self.state_dir, "run")]
        return cmd

    def env(self):
        return dict(os.environ, CONTAINERS_CONF=self.conf)

    def cli(self, *args, check=True, stdin=None):
        result = subprocess.run(self.base_command() + list(args), env=self.env(), input=stdin,
                                capture_output=True, timeout=120)
        if check and result.returncode != 0:
            raise StepFailed(f"podman {' '.join(args)}: {result.stderr.decode(errors='replace').strip()}")
        return result.stdout.decode(errors="replace")

    def ping(self):
        conn = UnixHTTPConnection(self.socket_path, timeout=2)
        try:
            conn.request("GET", "/_ping")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def start(self):
        """Starts the service unless one already answers on the socket (a second run reuses it)."""
        os.makedirs(self.state_dir, exist_ok=True)
        with open(self.conf, "w") as f:
            f.write(CONTAINERS_CONF)
        if self.ping():
            return "running"
        os.makedirs(os.path.dirname(self.socket_path), exist_ok=True)
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        with open(self.log_file, "ab") as log:
            child = subprocess.Popen(self.base_command() + ["system", "service", "--time=0",
                                                            "unix://" + self.socket_path],
                                     env=self.env(), stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=log, start_new_session=True)
        with open(self.pid_file, "w") as f:
            f.write(f"{child.pid}\n")
        # It outlives this process (a second run reuses it); keep the handle so Python does not
        # warn about a child still running when the handle goes.
        Podman.detached.append(child)
        wait_for(f"podman's API on {self.socket_path} (log: {self.log_file})",
                 lambda: child.poll() is not None or self.ping(), timeout=60, interval=0.1)
        if child.poll() is not None:
            raise StepFailed(f"podman system service exited; see {self.log_file}")
        return "started"

    def stop(self):
        """Stops the service this module started (by its pid file, after checking the pid is
        still podman's)."""
        try:
            pid = int(read_bytes(self.pid_file).strip())
            cmdline = read_bytes(f"/proc/{pid}/cmdline")
        except (OSError, ValueError):
            return False
        if b"podman" not in cmdline or self.socket_path.encode() not in cmdline:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
            try:
                if read_bytes(f"/proc/{pid}/stat").split(b")")[-1].split()[0] == b"Z":
                    break
            except OSError:
                break
            time.sleep(0.1)
        os.unlink(self.pid_file)
        return True

    def build_images(self, work_dir):
        """Imports the quickstart images (busybox-static + the example's scripts) unless an image
        built from the same content is there already. Returns the names (re)built."""
        content = hashlib.sha256()
        for name in ("sender.sh", "receiver.sh", "index.html"):
            content.update(read_bytes(os.path.join(EXAMPLE_DIR, "images", name)))
        content.update(json.dumps(IMAGES, sort_keys=True).encode())
        digest = content.hexdigest()[:16]
        wanted = [name for name in IMAGES if self.image_label(name) != digest]
        if not wanted:
            return []
        rootfs_tar = os.path.join(work_dir, "quickstart-rootfs.tar")
        write_rootfs_tar(rootfs_tar)
        tar_bytes = read_bytes(rootfs_tar)
        for name in wanted:
            cmd = json.dumps(IMAGES[name])
            self.cli("import", "--change", f"CMD {cmd}", "--change",
                     f"LABEL fogmesh.quickstart.content={digest}", "-", name, stdin=tar_bytes)
        os.unlink(rootfs_tar)
        return wanted

    def image_label(self, name):
        out = self.cli("image", "inspect", "--format",
                       '{{index .Labels "fogmesh.quickstart.content"}}', name, check=False)
        return out.strip()

    def containers(self, label_filter=None):
        args = ["ps", "-a", "--format", "json"]
        if label_filter:
            args += ["--filter", "label=" + label_filter]
        out = self.cli(*args).strip()
        return json.loads(out) if out else []

    def logs(self, name):
        result = subprocess.run(self.base_command() + ["logs", name], env=self.env(),
                                capture_output=True, timeout=60)
        return result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")


def write_rootfs_tar(path):
    """A minimal root filesystem: busybox-static with its applets, passwd/group, /etc/hosts
    left to the engine, the example's scripts in /app and the web page in /www."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()

    def add_dir(tar, name):
        info = tarfile.TarInfo(name)
        info.type = tarfile.DIRTYPE
        info.mode = 0o1777 if name == "tmp" else 0o755
        tar.addfile(info)

    def add_bytes(tar, name, data, mode=0o644):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = mode
        tar.addfile(info, io.BytesIO(data))

    with tarfile.open(path, "w") as tar:
        for d in ("bin", "etc", "proc", "sys", "dev", "tmp", "app", "www", "root"):
            add_dir(tar, d)
        tar.add(busybox, "bin/busybox")
        for applet in applets:
            if applet == "busybox":
                continue
            info = tarfile.TarInfo("bin/" + applet)
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            tar.addfile(info)
        add_bytes(tar, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
        add_bytes(tar, "etc/group", b"root:x:0:\n")
        images = os.path.join(EXAMPLE_DIR, "images")
        for script in ("sender.sh", "receiver.sh"):
            add_bytes(tar, "app/" + script, read_bytes(os.path.join(images, script)), 0o755)
        add_bytes(tar, "www/index.html", read_bytes(os.path.join(images, "index.html")))


class Fogctl:
    """The fogctl binary with its own FOGMESH_HOME (the quickstart's, or a test's)."""

    def __init__(self, binary, home, namespace="default"):
        self.binary = binary
        self.home = home
        self.namespace = namespace

    def env(self):
        return dict(os.environ, FOGMESH_HOME=self.home)

    def run(self, *args, check=True, stdin=None, timeout=300):
        result = subprocess.run([self.binary, "-n", self.namespace] + list(args), env=self.env(),
                                input=stdin, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise StepFailed(f"fogctl {' '.join(args)} failed (exit {result.returncode}):\n"
                             f"{result.stdout}{result.stderr}")
        return result

    def json(self, *args):
        return json.loads(self.run(*args, "-o", "json").stdout)

    def microservices(self, application):
        return [m for m in self.json("get", "microservices")
                if m.get("application") == application or m.get("applicationName") == application
                or m.get("flowName") == application]


def microservice_status(ms):
    status = ms.get("status")
    if isinstance(status, dict):
        return status.get("status", "")
    return status or ""


def public_links(ms):
    links = []
    for port in ms.get("ports", []):
        public = port.get("public")
        if isinstance(public, dict):
            links += public.get("links", [])
    return links


def http_get(url, timeout=5):
    """The body of a GET, or None when it does not answer (yet)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return reply.read().decode(errors="replace")
    except (OSError, http.client.HTTPException):
        return None


def received_total(podman, container):
    """The receiver's running total from its log ("received N (total T): ...")."""
    totals = re.findall(r"received \d+ \(total (\d+)\)", podman.logs(container))
    return int(totals[-1]) if totals else 0


def sent_total(podman, container):
    sent = re.findall(r"^sent (\d+)$", podman.logs(container), re.M)
    return int(sent[-1]) if sent else 0


def agent_status(fogctl, agent_name, agent_binary):
    """`fogmesh-agent status` of a LocalAgent fogctl runs (its config dir is under FOGMESH_HOME)."""
    config_dir = os.path.join(fogctl.home, "namespaces", fogctl.namespace, "agents", agent_name,
                              "config")
    result = subprocess.run([agent_binary, "--config-dir", config_dir, "status"],
                            capture_output=True, text=True, timeout=30)
    try:
        return json.loads(result.stdout)
    except ValueError:
        return {}


# --- the quickstart's command line -------------------------------------------------------------

def quickstart_paths(build_dir):
    """`build_dir` None: the one the last `up` used (stop and status work with what runs)."""
    home = os.environ.get("FOGMESH_HOME", os.path.join(os.path.expanduser("~"), ".fogmesh"))
    remembered = os.path.join(home, "quickstart", "build-dir")
    if build_dir is None:
        build_dir = read_bytes(remembered).decode().strip() if os.path.exists(remembered) else \
            os.path.join(ROOT, "build", "release")
    build_dir = os.path.abspath(build_dir)
    if not os.path.exists(os.path.join(build_dir, "ctl", "fogctl")):
        raise StepFailed(f"{build_dir}/ctl/fogctl is missing: build first (./scripts/quickstart.sh)")
    return {
        "build": build_dir,
        "remembered": remembered,
        "fogctl": os.path.join(build_dir, "ctl", "fogctl"),
        "agent": os.path.join(build_dir, "agent", "fogmesh-agent"),
        "home": home,
        "state": os.path.join(home, "quickstart"),
        "socket": "/run/fogmesh/podman.sock",
    }


def container_of(ms):
    return "iofog_" + ms["uuid"]


def cmd_up(build_dir):
    p = quickstart_paths(build_dir)
    podman = Podman(p["state"], p["socket"])
    fogctl = Fogctl(p["fogctl"], p["home"])

    say(f"== podman's Docker-compatible API on unix://{p['socket']}")
    say(f"   {podman.start()} (log: {podman.log_file})")
    with open(p["remembered"], "w") as f:
        f.write(p["build"] + "\n")
    built = podman.build_images(p["state"])
    say("== images (busybox-static + examples/quickstart/images, built offline)")
    for name in IMAGES:
        say(f"   {name}: {'built' if name in built else 'up to date'}")

    say("\n== fogctl deploy -f examples/quickstart/controlplane.yaml"
        "   (controller with embedded PostgreSQL, agents hub + edge-1)")
    out = fogctl.run("deploy", "-f", os.path.join(EXAMPLE_DIR, "controlplane.yaml"), timeout=600)
    say(indent(out.stdout))
    say("== fogctl deploy -f examples/quickstart/app.yaml   (sender, receiver, web + route)")
    say(indent(fogctl.run("deploy", "-f", os.path.join(EXAMPLE_DIR, "app.yaml")).stdout))

    say("== waiting for the microservices to run (timeout 3 min)")
    names = {"sender", "receiver", "web"}

    def all_running():
        ms = {m["name"]: m for m in fogctl.microservices("quickstart")}
        states = {n: microservice_status(ms[n]) if n in ms else "?" for n in names}
        if all(s == "RUNNING" for s in states.values()):
            return ms
        return None
    ms = wait_for("sender, receiver and web RUNNING (see `fogctl get microservices`, "
                  "`fogctl logs agent hub|edge-1`)", all_running, timeout=180, interval=1)
    for n in sorted(names):
        say(f"   {n:9} RUNNING  container {container_of(ms[n])}")

    say("\n== ioMessages: sender (edge-1) -> edge-1's edge router -> hub's interior router -> receiver (hub)")
    receiver = container_of(ms["receiver"])
    sender = container_of(ms["sender"])
    wait_for("the receiver's first ioMessage (its log: podman logs " + receiver + ")",
             lambda: received_total(podman, receiver) > 0, timeout=90, interval=1)
    first = received_total(podman, receiver)
    time.sleep(5)
    later = received_total(podman, receiver)
    say(f"   receiver's total: {first}, five seconds later {later} (sender has sent {sent_total(podman, sender)})")
    received_lines = [line for line in podman.logs(receiver).splitlines() if line.startswith("received")]
    say(indent("\n".join(received_lines[-3:]), "   receiver | "))
    for agent in ("edge-1", "hub"):
        st = agent_status(fogctl, agent, p["agent"])
        bus = st.get("status", st)
        counters = {k: bus.get(k) for k in ("messagesSentToRouter", "messagesFromRouter") if k in bus}
        if counters:
            say(f"   agent {agent}: {counters}")

    links = wait_for("the public port of web", lambda: public_links(
        {m["name"]: m for m in fogctl.microservices("quickstart")}["web"]), timeout=60)
    url = links[0].replace("://0.0.0.0:", "://127.0.0.1:")
    say(f"\n== public port: curl {url}   (hub's router -> edge-1's router -> web's port 18080)")
    wait_for(f"{url} to answer", lambda: http_get(url), timeout=90, interval=1)
    say(f"   $ curl -sS {url}")
    curl = subprocess.run(["curl", "-sS", "--max-time", "10", url], capture_output=True, text=True,
                          timeout=30)
    say(indent((curl.stdout + curl.stderr).strip(), "   | "))

    say("\n== fogctl get all")
    say(indent(fogctl.run("get", "all").stdout))
    fogctl_path = os.path.abspath(p["fogctl"])
    say(f"""The whole system is running. To stop it:   ./scripts/quickstart.sh stop
Try next:
  alias fogctl={fogctl_path}   # state in {p['home']}
  fogctl get microservices -o yaml          # what the controller knows, status included
  fogctl describe application quickstart    # YAML you can edit and deploy again
  fogctl logs agent edge-1                  # an agent's log (also: fogctl logs controller)
  podman logs -f {receiver}   # messages arriving
  curl {url}
  Edit examples/quickstart/app.yaml (intervalSeconds, another microservice, a route) and:
  fogctl deploy -f examples/quickstart/app.yaml""")


def cmd_status(build_dir):
    p = quickstart_paths(build_dir)
    fogctl = Fogctl(p["fogctl"], p["home"])
    say(fogctl.run("get", "all").stdout)


def cmd_stop(build_dir):
    p = quickstart_paths(build_dir)
    podman = Podman(p["state"], p["socket"])
    fogctl = Fogctl(p["fogctl"], p["home"])
    if os.path.exists(os.path.join(p["home"], "namespaces", "default", "controlplane.json")):
        say("== fogctl delete application quickstart")
        result = fogctl.run("delete", "application", "quickstart", check=False)
        say(indent((result.stdout + result.stderr).strip()))
        try:
            wait_for("the agents to remove the quickstart's containers",
                     lambda: not [c for c in podman.containers() if
                                  any(n.startswith("iofog_") for n in c.get("Names", []))],
                     timeout=60, interval=1)
        except StepFailed as e:
            say(f"   {e}")
        say("== fogctl delete controlplane   (stops the agents, their routers and the controller)")
        result = fogctl.run("delete", "controlplane", check=False)
        say(indent((result.stdout + result.stderr).strip()))
    if podman.stop():
        say("== stopped podman's API service")
    say("Stopped. Images localhost/quickstart-* stay (podman rmi to remove them).")


def indent(text, prefix="   "):
    return "\n".join(prefix + line for line in text.rstrip().splitlines())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "status", "stop"])
    parser.add_argument("--build-dir", help="default: the last `up`'s, else build/release")
    args = parser.parse_args()
    try:
        {"up": cmd_up, "status": cmd_status, "stop": cmd_stop}[args.command](args.build_dir)
    except StepFailed as e:
        print(f"quickstart: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
