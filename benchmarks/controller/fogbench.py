#!/usr/bin/env python3
"""Set-up and agent simulation for the controller benchmarks (benchmarks/controller/run.sh).

Standard library only. Everything goes through the controller's REST API, as a client would:

  fogbench.py setup  URL EMAIL            user + login + one provisioned agent: prints
                                          "USER_TOKEN AGENT_TOKEN"
  fogbench.py fogs   URL TOKEN COUNT      creates COUNT fogs (routerMode none), 8 at a time
  fogbench.py agents URL TOKEN COUNT ...  COUNT simulated agents: each provisions itself, then
                                          long-polls GET /agent/config/changes?wait=W and PUTs
                                          /agent/status every --status-every s; after --settle s a
                                          registry is added (a change for every agent), and the
                                          time until each agent's long-poll answers is measured
                                          (agents simulated by --procs processes), and the
                                          controller's own time to its last woken answer.
Only loopback URLs are accepted.
"""
import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import time
import urllib.parse


class Client:
    """One keep-alive HTTP/1.1 connection (Content-Length bodies only, which is all we get)."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def connect(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(self, method, path, token=None, body=None, raw=False):
        if self.writer is None:
            await self.connect()
        data = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
        if token:
            head += f"Authorization: {token}\r\n"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        head += f"Content-Length: {len(data)}\r\n\r\n"
        self.writer.write(head.encode() + data)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("connection closed")
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        payload = await self.reader.readexactly(length) if length else b""
        if raw:
            return status, payload.decode()
        return status, (json.loads(payload) if payload else None)

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def parse_url(url):
    u = urllib.parse.urlparse(url)
    if u.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("fogbench: only loopback controllers")
    return u.hostname, u.port or 51121


async def expect(client, method, path, token=None, body=None, ok=(200, 201, 204)):
    status, payload = await client.request(method, path, token, body)
    if status not in ok:
        raise RuntimeError(f"{method} {path}: {status} {payload}")
    return payload


async def provision_agent(client, token, name):
    fog = await expect(client, "POST", "/api/v3/iofog", token,
                       {"name": name, "fogType": 1, "routerMode": "none"})
    key = await expect(client, "GET", f"/api/v3/iofog/{fog['uuid']}/provisioning-key", token)
    agent = await expect(client, "POST", "/api/v3/agent/provision", None,
                         {"key": key["key"], "type": 1})
    return fog["uuid"], agent["token"]


async def setup(args):
    c = Client(*parse_url(args.url))
    password = "bench-password-1"
    await expect(c, "POST", "/api/v3/user/signup", None,
                 {"firstName": "Bench", "lastName": "Mark", "email": args.email,
                  "password": password})
    login = await expect(c, "POST", "/api/v3/user/login", None,
                         {"email": args.email, "password": password})
    token = login["accessToken"]
    _, agent_token = await provision_agent(c, token, "bench-agent-0")
    print(token, agent_token)


async def fogs(args):
    host, port = parse_url(args.url)
    counter = iter(range(args.count))

    async def worker(w):
        c = Client(host, port)
        for i in counter:
            await expect(c, "POST", "/api/v3/iofog", args.token,
                         {"name": f"{args.prefix}-{i}", "fogType": 1, "routerMode": "none"})
        c.close()

    await asyncio.gather(*(worker(w) for w in range(8)))


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p / 100))]


async def simulate(host, port, args, tokens, first, shared):
    """One simulator process: long-polls and status reports of `tokens` (agents first,
    first + 1, ...). Counters and the change's start time are shared with the parent."""
    n = args.count
    stop = asyncio.Event()
    errors = {"poll": 0, "status": 0}
    polls = {"answered": 0, "empty": 0}
    seen = []  # seconds from the change's start to each agent's long-poll answering it

    async def poller(token):
        c = Client(host, port)
        noticed = False
        while not stop.is_set():
            try:
                st, body = await c.request(
                    "GET", f"/api/v3/agent/config/changes?wait={args.wait}", token)
                if st != 200:
                    errors["poll"] += 1
                    await asyncio.sleep(1)
                    continue
                polls["answered"] += 1
                if body.get("registries"):
                    started = shared["change_at"].value
                    if started > 0 and not noticed:
                        noticed = True
                        seen.append(time.monotonic() - started)
                        with shared["seen"].get_lock():
                            shared["seen"].value += 1
                    await c.request("GET", "/api/v3/agent/registries", token)
                    st, _ = await c.request("PATCH", "/api/v3/agent/config/changes", token,
                                            {"lastUpdated": body["lastUpdated"]})
                    if st != 204:
                        errors["poll"] += 1
                elif not any(v for k, v in body.items() if k != "lastUpdated"):
                    polls["empty"] += 1
            except (ConnectionError, OSError, asyncio.IncompleteReadError):
                errors["poll"] += 1
                c.close()
                await asyncio.sleep(1)
        c.close()

    status_body = {"daemonStatus": "RUNNING", "memoryUsage": 100.5, "diskUsage": 10.25,
                   "cpuUsage": 3.5, "systemAvailableMemory": 8000000000,
                   "microserviceStatus": "[]", "repositoryCount": 0, "ipAddress": "127.0.0.1"}

    async def reporter(i, token):
        c = Client(host, port)
        # Spread the agents over the period, as independent agents are.
        await asyncio.sleep(args.status_every * i / n)
        while not stop.is_set():
            started = time.monotonic()
            try:
                st, _ = await c.request("PUT", "/api/v3/agent/status", token, status_body)
                with shared["status"].get_lock():
                    shared["status"].value += 1
                if st != 204:
                    errors["status"] += 1
            except (ConnectionError, OSError, asyncio.IncompleteReadError):
                errors["status"] += 1
                c.close()
            try:
                await asyncio.wait_for(stop.wait(),
                                       args.status_every - (time.monotonic() - started))
            except asyncio.TimeoutError:
                pass
        c.close()

    # How late this event loop runs its callbacks while the change spreads: an agent's answer
    # is only noticed when the loop gets to it, so this lag is part of the agents' figures.
    lag = 0.0

    async def lag_probe():
        nonlocal lag
        while not stop.is_set():
            t = time.monotonic()
            await asyncio.sleep(0.01)
            if shared["change_at"].value > 0:
                lag = max(lag, time.monotonic() - t - 0.01)
            if shared["stop"].is_set():
                stop.set()

    tasks = [asyncio.create_task(poller(t)) for t in tokens]
    tasks += [asyncio.create_task(reporter(first + i, t)) for i, t in enumerate(tokens)]
    await lag_probe()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"seen": seen, "lag": lag, "errors": errors, "polls": polls}


def simulator_process(host, port, args, tokens, first, shared, results):
    results.put(asyncio.run(simulate(host, port, args, tokens, first, shared)))


async def agents(args):
    host, port = parse_url(args.url)
    n = args.count
    # Provision through the API, 8 at a time.
    tokens = []
    counter = iter(range(n))

    async def provisioner():
        c = Client(host, port)
        for i in counter:
            tokens.append((await provision_agent(c, args.token, f"{args.prefix}-{i}"))[1])
        c.close()

    t0 = time.monotonic()
    await asyncio.gather(*(provisioner() for _ in range(8)))
    print(f"provisioned {n} agents in {time.monotonic() - t0:.1f} s", flush=True)

    # The agents are simulated by --procs processes (one event loop could not keep up with
    # 5,000 answers at once, and its lag was part of every figure); this one only measures.
    ctx = multiprocessing.get_context("fork")
    shared = {"change_at": ctx.Value("d", 0.0), "seen": ctx.Value("q", 0),
              "status": ctx.Value("q", 0), "stop": ctx.Event()}
    results = ctx.Queue()
    procs = max(1, args.procs)
    per = (n + procs - 1) // procs
    children = []
    for p in range(procs):
        shard = tokens[p * per:(p + 1) * per]
        if shard:
            children.append(ctx.Process(target=simulator_process,
                                        args=(host, port, args, shard, p * per, shared, results)))
    for child in children:
        child.start()

    def cpu_ticks():
        if not args.pid:
            return 0
        with open(f"/proc/{args.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    await asyncio.sleep(args.settle)
    # Steady state: every agent holds a long-poll and reports every status_every seconds.
    hz = os.sysconf("SC_CLK_TCK")
    ticks0, wall0, status0 = cpu_ticks(), time.monotonic(), shared["status"].value
    await asyncio.sleep(args.measure)
    ticks1, wall1, status1 = cpu_ticks(), time.monotonic(), shared["status"].value
    cpu = (ticks1 - ticks0) / hz / (wall1 - wall0) * 100
    print(f"steady state over {wall1 - wall0:.0f} s: controller CPU {cpu:.1f}% of a core, "
          f"{(status1 - status0) / (wall1 - wall0):.0f} status PUT/s", flush=True)

    # One change for every agent: a new registry, sent by curl (a process of its own: its
    # answer time is the controller's).
    body = json.dumps({"url": "registry.example", "isPublic": False, "username": "u",
                       "password": "p", "email": "bench@example.com", "requiresCert": False})
    sent_unix_ms = time.time() * 1000
    shared["change_at"].value = time.monotonic()
    curl = await asyncio.create_subprocess_exec(
        "curl", "-sf", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", "-X", "POST",
        "-H", f"Authorization: {args.token}", "-H", "Content-Type: application/json",
        "--data", body, f"{args.url}/api/v3/registries", stdout=asyncio.subprocess.PIPE)
    out, _ = await curl.communicate()
    code, total = out.decode().split()
    if code != "201":
        raise RuntimeError(f"POST /api/v3/registries: {code}")
    committed = float(total)
    deadline = time.monotonic() + 10
    while shared["seen"].value < n and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    # The controller's own figure: when it handed the last answer to a woken long-poll to its
    # connection, and the longest wake-up-to-answer time.
    c = Client(host, port)
    _, metrics_text = await c.request("GET", "/metrics", raw=True)
    c.close()
    metrics = dict(line.split()[:2] for line in metrics_text.splitlines()
                   if line and not line.startswith("#"))
    last_written = metrics.get("fogmesh_controller_woken_last_answered_ms")
    wake_to_written = metrics.get("fogmesh_controller_woken_delay_max_ms")

    shared["stop"].set()
    gathered = [results.get() for _ in children]
    for child in children:
        child.join()
    seen = sorted(s for r in gathered for s in r["seen"])
    lag = max(r["lag"] for r in gathered)
    errors = {k: sum(r["errors"][k] for r in gathered) for k in ("poll", "status")}
    polls = {k: sum(r["polls"][k] for r in gathered) for k in ("answered", "empty")}
    print(f"change: POST /registries answered in {committed * 1000:.0f} ms; "
          f"{len(seen)}/{n} agents saw it; first {seen[0] * 1000 if seen else 0:.0f} ms, "
          f"p50 {percentile(seen, 50) * 1000:.0f} ms, "
          f"p99 {percentile(seen, 99) * 1000:.0f} ms, max {seen[-1] * 1000 if seen else 0:.0f} ms",
          flush=True)
    if last_written is not None and wake_to_written is not None:
        print(f"controller: last woken answer {float(last_written) - sent_unix_ms:.0f} ms "
              f"after the POST was sent; longest wake-up-to-answer {float(wake_to_written):.0f} "
              f"ms", flush=True)
    else:
        print("controller: no woken-answer figures in its /metrics (older controller)", flush=True)
    print(f"simulator ({len(children)} processes): event loops up to {lag * 1000:.0f} ms late "
          f"while the change spread", flush=True)
    print(f"errors: poll {errors['poll']}, status {errors['status']}; long-polls answered "
          f"{polls['answered']} ({polls['empty']} empty at their timeout)", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup")
    s.add_argument("url")
    s.add_argument("email")
    f = sub.add_parser("fogs")
    f.add_argument("url")
    f.add_argument("token")
    f.add_argument("count", type=int)
    f.add_argument("--prefix", default="bench-fog")
    a = sub.add_parser("agents")
    a.add_argument("url")
    a.add_argument("token")
    a.add_argument("count", type=int)
    a.add_argument("--prefix", default="sim-agent")
    a.add_argument("--pid", type=int, help="controller pid, for its CPU time")
    a.add_argument("--wait", type=int, default=30, help="long-poll seconds")
    a.add_argument("--status-every", type=float, default=10)
    a.add_argument("--settle", type=float, default=15, help="seconds before measuring")
    a.add_argument("--measure", type=float, default=30, help="steady-state seconds")
    a.add_argument("--procs", type=int, default=4, help="simulator processes")
    args = p.parse_args()
    asyncio.run({"setup": setup, "fogs": fogs, "agents": agents}[args.cmd](args))


if __name__ == "__main__":
    main()
