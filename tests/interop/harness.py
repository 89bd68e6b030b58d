"""Interop test harness: runs a real fogmesh-router process for Proton clients.

Each test script is a standalone program:

    /usr/bin/python3 test_x.py --router build/.../fogmesh-router

and exits 0 (pass), 1 (fail) or 77 (skip). Scripts call `harness.main(test_fn)`; `test_fn(args)`
starts routers with `Router(args, ...)` (a context manager), drives them with Proton, and uses
`check()`, `fail()`, `skip()`. On failure the harness prints the router's log.

Ports: every listener is configured with `port: 0` and the bound port is read from the router's
`listening on HOST:PORT` log line, so tests can run in parallel without port clashes.

Timeouts are generous (CI runs the router under ASan/UBSan on 2 shared cores); tests never assert
on how fast something happened, only that it happened before a generous deadline.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

PASS, FAIL, SKIP = 0, 1, 77

# Scale factor for every deadline (FOGMESH_INTEROP_TIMEOUT_SCALE=3 for very slow machines).
TIMEOUT_SCALE = float(os.environ.get("FOGMESH_INTEROP_TIMEOUT_SCALE", "1"))


def deadline(seconds):
    return seconds * TIMEOUT_SCALE


class TestFailure(Exception):
    pass


class TestSkip(Exception):
    pass


def fail(message):
    raise TestFailure(message)


def skip(message):
    raise TestSkip(message)


class known_bug:
    """`with harness.known_bug("text"):` turns a failure inside into a skip (exit 77) printed as
    "KNOWN BUG: text". Remove the wrapper once the router is fixed: the test then guards the fix.
    """

    def __init__(self, text):
        self.text = text

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and issubclass(exc_type, TestFailure):
            raise TestSkip("KNOWN BUG: %s (failure: %s)" % (self.text, exc))
        return False


def check(condition, message):
    if not condition:
        raise TestFailure(message)


def log(message):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), message), flush=True)


_LISTENING = re.compile(r"listening on (\S+):(\d+)")
_routers = []  # every Router started, so a failing test can dump their logs


class Router:
    """A fogmesh-router process with a generated config.

    listeners: list of dicts of listener attributes (host/port default to 127.0.0.1/0).
    addresses: list of dicts of address attributes.
    extra: raw config text appended (connector, linkRoute, ...).
    """

    def __init__(self, args, listeners=None, addresses=None, extra="", router_id=None,
                 log_level=None, start=True, expect_exit_code=0, mode="standalone"):
        self.binary = args.router
        self.listeners = listeners if listeners is not None else [{}]
        self.addresses = addresses if addresses is not None else []
        self.extra = extra
        self.mode = mode
        self.router_id = router_id or "interop-%d" % os.getpid()
        self.log_level = log_level or os.environ.get("FOGMESH_INTEROP_LOG_LEVEL")
        self.expect_exit_code = expect_exit_code
        self.dir = tempfile.mkdtemp(prefix="fogmesh-interop-")
        self.config_path = os.path.join(self.dir, "router.conf")
        self.log_path = os.path.join(self.dir, "router.log")
        self.proc = None
        self.ports = []
        self.exit_code = None
        _routers.append(self)
        if start:
            self.start()

    # -- config ----------------------------------------------------------------------------
    def config_text(self):
        lines = ["router {", "    mode: %s" % self.mode, "    id: %s" % self.router_id, "}", ""]
        for attrs in self.listeners:
            attrs = dict(attrs)
            attrs.setdefault("host", "127.0.0.1")
            attrs.setdefault("port", 0)
            attrs.setdefault("saslMechanisms", "ANONYMOUS")
            lines.append("listener {")
            for k, v in attrs.items():
                lines.append("    %s: %s" % (k, _value(v)))
            lines += ["}", ""]
        for attrs in self.addresses:
            lines.append("address {")
            for k, v in attrs.items():
                lines.append("    %s: %s" % (k, _value(v)))
            lines += ["}", ""]
        lines.append(self.extra)
        return "\n".join(lines) + "\n"

    def write_file(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    # -- process ---------------------------------------------------------------------------
    def start(self, timeout=30):
        with open(self.config_path, "w") as f:
            f.write(self.config_text())
        cmd = [self.binary, "-c", self.config_path]
        if self.log_level:
            cmd += ["--log-level", self.log_level]
        self._log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log_file, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.dir)
        end = time.monotonic() + deadline(timeout)
        while time.monotonic() < end:
            found = [(h, int(p)) for h, p in _LISTENING.findall(self.log())]
            if len(found) >= len(self.listeners):
                self.ports = [p for _, p in found[:len(self.listeners)]]
                return self
            if self.proc.poll() is not None:
                fail("router exited with %s during start-up" % self.proc.returncode)
            time.sleep(0.05)
        fail("router did not log 'listening on' for %d listener(s) within %ss"
             % (len(self.listeners), timeout))

    @property
    def port(self):
        return self.ports[0]

    def url(self, index=0, user=None, password=None):
        auth = ""
        if user is not None:
            auth = user + (":" + password if password is not None else "") + "@"
        return "amqp://%s127.0.0.1:%d" % (auth, self.ports[index])

    def addr(self, index=0):
        return ("127.0.0.1", self.ports[index])

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def wait(self, timeout=30):
        try:
            self.exit_code = self.proc.wait(deadline(timeout))
        except subprocess.TimeoutExpired:
            return None
        return self.exit_code

    def stop(self, timeout=30, check_exit=True):
        """SIGTERM, wait, and (check_exit) assert the expected exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(deadline(timeout))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self._close_log()
                if check_exit:
                    fail("router did not exit within %ss of SIGTERM (killed)" % timeout)
        self.exit_code = self.proc.returncode
        self._close_log()
        if check_exit and self.exit_code != self.expect_exit_code:
            fail("router exited with %s after SIGTERM, expected %s"
                 % (self.exit_code, self.expect_exit_code))
        return self.exit_code

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_log()

    def _close_log(self):
        f = getattr(self, "_log_file", None)
        if f is not None and not f.closed:
            f.close()

    def cleanup(self, keep=False):
        self.kill()
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.stop()
        else:
            self.kill()
        return False


def _value(v):
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


# -- helper processes (the test broker) -------------------------------------------------------

class Process:
    """A helper process (e.g. broker.py) whose output is captured to a file in a temp dir."""

    def __init__(self, cmd, name, ready_pattern=None, timeout=30):
        self.dir = tempfile.mkdtemp(prefix="fogmesh-interop-%s-" % name)
        self.log_path = os.path.join(self.dir, name + ".log")
        self.name = name
        self._log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log_file, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.match = None
        _routers.append(self)
        if ready_pattern:
            end = time.monotonic() + deadline(timeout)
            while time.monotonic() < end:
                self.match = re.search(ready_pattern, self.log())
                if self.match:
                    break
                if self.proc.poll() is not None:
                    fail("%s exited with %s during start-up" % (name, self.proc.returncode))
                time.sleep(0.05)
            else:
                fail("%s did not print %r within %ss" % (name, ready_pattern, timeout))

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(deadline(timeout))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()
        return self.proc.returncode

    kill = stop

    def cleanup(self, keep=False):
        self.stop()
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)


class Broker(Process):
    """The test broker (broker.py) on a free loopback port."""

    def __init__(self):
        super().__init__([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                       "broker.py")],
                         "broker", ready_pattern=r"broker listening on \S+:(\d+)")
        self.port = int(self.match.group(1))

    def url(self):
        return "amqp://127.0.0.1:%d" % self.port

    def connector(self, name="broker"):
        """Router config text: a route-container connector to this broker."""
        return ("connector {\n    name: %s\n    role: route-container\n    host: 127.0.0.1\n"
                "    port: %d\n    saslMechanisms: ANONYMOUS\n}\n" % (name, self.port))


# -- Proton helpers ---------------------------------------------------------------------------

def receive_bodies(conn, address, count, timeout=10):
    """Attaches a receiver from address on a BlockingConnection with credit for count,
    accepts count messages and returns their bodies in arrival order."""
    rcv = conn.create_receiver(address, credit=count)
    bodies = []
    for _ in range(count):
        bodies.append(rcv.receive(timeout=deadline(timeout)).body)
        rcv.accept()
    return bodies


def run_container(handler, timeout, what="test"):
    """Runs a proton Container with `handler` until it stops or `timeout` seconds pass.

    The handler must close its connections when done (the container then stops by itself).
    On timeout every connection is closed and TestFailure is raised with `what` and, when the
    handler has a `progress()` method, its result.
    """
    from proton.reactor import Container
    from proton.handlers import MessagingHandler

    container = Container(handler)
    state = {"timed_out": False, "open": 0, "task": None}

    class _Timeout:
        def on_timer_task(self, event):
            state["timed_out"] = True
            event.container.stop()

    class _Tracker:
        # A pending timer keeps the container running: cancel it once every connection the
        # handler opened has closed, so the container stops by itself.
        def on_connection_init(self, event):
            state["open"] += 1

        def on_transport_closed(self, event):
            state["open"] -= 1
            if state["open"] <= 0 and state["task"] is not None:
                state["task"].cancel()
                state["task"] = None
                # Without stop() the reactor would sit in select() for its 3.14 s default.
                event.container.stop()

    handler.handlers.append(_Tracker())
    state["task"] = container.schedule(deadline(timeout), _Timeout())
    handler.container = container
    container.run()
    if state["timed_out"]:
        progress = handler.progress() if hasattr(handler, "progress") else ""
        fail("%s did not finish within %ss %s" % (what, deadline(timeout), progress))
    return handler


def hash_password(args, password):
    out = subprocess.run([args.router, "--hash-password"], input=password + "\n",
                         capture_output=True, text=True, timeout=deadline(30))
    if out.returncode != 0:
        fail("--hash-password exited %s: %s" % (out.returncode, out.stderr))
    return out.stdout.strip()


def entity(kind, **attrs):
    """One config-file entity in brace syntax, e.g. entity("tcpListener", port=6001, ...)."""
    return kind + " {\n" + "".join("    %s: %s\n" % kv for kv in attrs.items()) + "}\n"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# -- entry point ------------------------------------------------------------------------------

def parse_args(extra=None):
    p = argparse.ArgumentParser()
    p.add_argument("--router", required=True, help="path of the fogmesh-router binary")
    p.add_argument("--keep", action="store_true", help="keep temp dirs (configs, logs)")
    p.add_argument("--verbose", "-v", action="store_true", help="print router logs always")
    if extra:
        extra(p)
    return p.parse_args()


def main(test, extra_args=None):
    """Runs test(args) and exits 0/1/77. Prints router logs on failure (or with -v)."""
    args = parse_args(extra_args)
    args.router = os.path.abspath(args.router)
    if not os.access(args.router, os.X_OK):
        print("router binary %s is not executable" % args.router)
        sys.exit(FAIL)
    code = PASS
    try:
        test(args)
        log("PASS")
    except TestSkip as e:
        log("SKIP: %s" % e)
        code = SKIP
    except TestFailure as e:
        log("FAIL: %s" % e)
        code = FAIL
    except Exception:
        traceback.print_exc()
        log("FAIL: unexpected exception")
        code = FAIL
    for r in _routers:
        if r.proc is not None and r.proc.poll() is None:
            # Left running by a failing test: stop it and report a bad exit too.
            try:
                rc = r.stop(check_exit=False)
                if isinstance(r, Router) and rc != 0 and code == PASS:
                    log("FAIL: router exited %s" % rc)
                    code = FAIL
            except Exception:
                r.kill()
    if code == FAIL or args.verbose:
        for r in _routers:
            print("----- %s log (%s) -----" % (getattr(r, "name", "router"), r.log_path))
            text = r.log()
            if len(text) > 60000:
                text = text[:20000] + "\n... [%d bytes cut] ...\n" % (len(text) - 40000) + text[-20000:]
            print(text)
            if isinstance(r, Router):
                print("----- config -----")
                try:
                    print(open(r.config_path).read())
                except OSError:
                    pass
    for r in _routers:
        r.cleanup(keep=args.keep)
    sys.stdout.flush()
    sys.exit(code)


# -- raw AMQP over a socket (for idle-timeout and malformed-frame tests) ------------------------

AMQP_HEADER = b"AMQP\x00\x01\x00\x00"
SASL_HEADER = b"AMQP\x03\x01\x00\x00"


def encode_performative(code, fields):
    """A described list (code, [fields...]) encoded with proton.Data."""
    from proton import Data, ulong
    d = Data()
    d.put_described()
    d.enter()
    d.put_ulong(code)
    d.put_list()
    d.enter()
    for f in fields:
        d.put_object(f)
    d.exit()
    d.exit()
    return d.encode()


def frame(body, frame_type=0, channel=0):
    import struct
    return struct.pack(">IBBH", 8 + len(body), 2, frame_type, channel) + body


def open_frame(container_id="raw-client", max_frame_size=None, idle_timeout_ms=None):
    from proton import uint
    fields = [container_id, None]
    if max_frame_size is not None or idle_timeout_ms is not None:
        fields += [uint(max_frame_size or 4294967295), None,
                   uint(idle_timeout_ms) if idle_timeout_ms is not None else None]
    return frame(encode_performative(0x10, fields))


class RawConnection:
    """A plain socket speaking just enough AMQP to open and then misbehave."""

    def __init__(self, addr, timeout=10):
        self.sock = socket.create_connection(addr, timeout=deadline(timeout))
        self.buf = b""
        self.eof = False

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, timeout):
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            self.eof = True
            return False
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def read_exact(self, n, timeout=10):
        end = time.monotonic() + deadline(timeout)
        while len(self.buf) < n:
            left = end - time.monotonic()
            if left <= 0 or self.eof or not self._fill(left):
                if len(self.buf) >= n:
                    break
                return None
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frame(self, timeout=10):
        """(type, channel, performative-code or None, decoded fields list or None), or None."""
        import struct
        from proton import Data
        head = self.read_exact(8, timeout)
        if head is None:
            return None
        size, doff, ftype, channel = struct.unpack(">IBBH", head)
        rest = self.read_exact(size - 8, timeout)
        if rest is None:
            return None
        body = rest[doff * 4 - 8:]
        if not body:
            return (ftype, channel, None, None)  # empty frame (heartbeat)
        d = Data()
        d.decode(body)
        d.rewind()
        d.next()
        obj = d.get_object()
        return (ftype, channel, int(obj.descriptor), list(obj.value) if obj.value else [])

    def handshake(self, idle_timeout_ms=None):
        """Sends the AMQP header and an open; returns the router's open fields."""
        self.send(AMQP_HEADER + open_frame(idle_timeout_ms=idle_timeout_ms))
        hdr = self.read_exact(8)
        check(hdr == AMQP_HEADER, "router answered the AMQP header with %r" % hdr)
        f = self.read_frame()
        check(f is not None and f[2] == 0x10, "expected the router's open, got %r" % (f,))
        return f[3]

    def wait_close(self, timeout):
        """Reads frames until a close (returns its error fields) or EOF (returns None).
        Returns "timeout" when the connection is still open after `timeout` seconds."""
        end = time.monotonic() + deadline(timeout)
        while time.monotonic() < end:
            f = self.read_frame(max(0.1, end - time.monotonic()) / TIMEOUT_SCALE)
            if f is None:
                return None if self.eof else "timeout"
            if f[2] == 0x18:  # close
                err = f[3][0] if f[3] else None
                if err is not None:
                    fields = list(err.value)
                    return {"condition": str(fields[0]),
                            "description": fields[1] if len(fields) > 1 else None}
                return {"condition": None}
        return "timeout"

    def closed_by_peer(self, timeout=10):
        """True once the router closed the socket (EOF/reset) within timeout."""
        end = time.monotonic() + deadline(timeout)
        while not self.eof and time.monotonic() < end:
            if not self._fill(max(0.05, end - time.monotonic())):
                if self.eof:
                    break
            else:
                self.buf = b""
        return self.eof

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
