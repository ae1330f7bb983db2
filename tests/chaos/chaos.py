#!/usr/bin/env python3
"""The reliability suite of issue #10: the real `bulwark serve` under faults.

Run it through scripts/chaos (which builds the server, the venv and the
fault shim, and cleans up processes and mounts whatever happens):

    scripts/chaos --short            # the CI run, a few minutes on 2 cores
    scripts/chaos                    # the full run (RELIABILITY.md)
    scripts/chaos --seed 42 --only sigkill --kills 30

Scenarios, and the invariants each one checks (a broken invariant makes the
run exit 1, with every failing case listed; nothing is asserted on timings,
but an answer that never comes within a generous client timeout is a hang):

- sigkill: uploader threads POST fresh files while the publisher runs;
  SIGKILL at a seeded random moment (half of the kills right after an
  upload was acknowledged, when the publisher has just been woken); restart
  on the same data directory. After each restart: every acknowledged upload
  (200) is on its project's page in python-tuf-verified metadata, every file
  a verified page lists is served with its signed size and sha256, python-tuf
  (one metadata directory for the whole run) refuses nothing, no TUF
  metadata version was ever seen with two different contents (served
  timestamp and snapshot, polled every 50 ms, and every <N>.<role>.json on
  disk after each kill), and no file blob without a database record is
  served at /files/… with 200.
- eio:write, eio:fsync, eio:rename: an LD_PRELOAD shim (faultshim.c) fails
  the server's write/fsync/rename calls on its data directory with EIO,
  from a seeded point on (every call, or after a few calls), while a fresh
  file is uploaded. The upload must get a 5xx (or a 200 only if the fault
  began after its own I/O, and then be published), never another status or
  no answer; reads (timestamp, a page, a file) keep answering 200 during the
  fault; verified metadata names nothing half-written (every listed file
  hashes right); once the fault is gone, a new upload is acknowledged and
  becomes visible in verified metadata.
- enospc: the data directory on a small tmpfs (else a loop-mounted ext4
  image; else the shim's ENOSPC, said in the table), filled to a seeded
  amount of free space; the same invariants as eio, and an upload larger
  than the free space must not get a 200.
- load: hundreds of concurrent uploaders and downloaders on loopback (tens
  in --short) with a slowloris client at the same time; every request gets
  200 or a clean 503, every acknowledged upload is then in verified
  metadata; median and p99 latency are reported.
- slowloris: ~300 sockets, most sending headers at 1 byte/s, the rest idle
  keep-alive connections; each must be closed (or refused) by the server
  within the observation window (--slowloris-secs, default 45 s with the
  server's request_timeout_secs = 10, the bound of issue #10 defect 3).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import random
import shlex
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from faults import Shim, SmallDisk, Strace
from index import Dists, Server, Verifier, Versions, Watcher, get, orphans, project_of, upload
from load import Slowloris, open_fds, percentile, run_load

PROFILES = {
    "short": dict(kills=10, uploaders=3, eio_rounds=3, disk_rounds=2, load_uploaders=20,
                  load_downloaders=20, load_requests=3, slowloris_sockets=300),
    "full": dict(kills=100, uploaders=4, eio_rounds=21, disk_rounds=10, load_uploaders=200,
                 load_downloaders=200, load_requests=5, slowloris_sockets=300),
}
SCENARIOS = ["sigkill", "eio", "enospc", "load"]


@dataclass
class Row:
    scenario: str
    tried: int = 0
    survived: int = 0
    notes: str = ""
    failures: list[str] = field(default_factory=list)

    def judge(self, label: str, failures: list[str]) -> None:
        """Counts one try: survived when it found no failure."""
        self.tried += 1
        if failures:
            self.failures += failures
            say(f"{label}: FAILED: {failures[0]}")
        else:
            self.survived += 1


class Context:
    def __init__(self, args):
        self.args = args
        self.work: Path = args.work_dir
        self.pidfile = self.work / "pids"
        self.cleanups: list = []
        self.rng = random.Random(args.seed)

    def server(self, name: str, data: Path, env: dict | None = None) -> Server:
        server = Server(self.args.bulwark, data, self.work / f"{name}.log", self.pidfile, env)
        self.cleanups.append(server.kill)
        return server


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- sigkill


def sigkill(ctx: Context) -> Row:
    args, rng = ctx.args, ctx.rng
    row = Row("sigkill")
    work = ctx.work / "sigkill"
    data = work / "data"
    work.mkdir()
    server = ctx.server("sigkill", data)
    server.start()
    token = server.token()
    verifier = Verifier(server.root(), work)
    versions = Versions()
    dists = Dists(work / "dist")
    acked: dict[str, set[str]] = {}
    lost: set[str] = set()
    served_orphans: set[str] = set()
    orphans_on_disk = 0
    tried_uploads = 0
    after_ack_kills = 0
    mid_publish = 0
    temps_seen: set[str] = set()
    with Watcher(versions) as watcher:
        watcher.url = server.url
        for k in range(args.kills):
            conflicts_before = len(versions.conflicts)
            stop = threading.Event()
            first_ack = threading.Event()
            round_acks: list[tuple[str, str]] = []
            counts = [0]
            lock = threading.Lock()

            def uploader(i: int, url: str = server.url, k: int = k) -> None:
                r = random.Random(f"{args.seed}-{k}-{i}")
                while not stop.is_set():
                    project, path = dists.make(r, "sdist" if r.random() < 0.2 else "wheel")
                    status, _, _ = upload(url, token, path, timeout=30)
                    with lock:
                        counts[0] += 1
                        if status == 200:
                            round_acks.append((project, path.name))
                            first_ack.set()
                    if status is None:
                        stop.wait(0.05)

            threads = [threading.Thread(target=uploader, args=(i,)) for i in range(args.uploaders)]
            for t in threads:
                t.start()
            if rng.random() < 0.5:
                # Right after an acknowledgement: the publisher was just woken.
                first_ack.wait(30)
                time.sleep(rng.uniform(0, 0.2))
                after_ack_kills += 1
            else:
                time.sleep(rng.uniform(0.05, 1.5))
            server.kill()
            stop.set()
            for t in threads:
                t.join()
            tried_uploads += counts[0]
            row.tried += 1
            for project, name in round_acks:
                acked.setdefault(project, set()).add(name)
            versions.scan_disk(data, f"after kill {k}")
            mid_publish += interrupted_publish(data, temps_seen)
            try:
                server.start()
            except RuntimeError as e:
                row.failures.append(f"kill {k}: the server does not start again: {e}")
                break
            watcher.url = server.url
            failures: list[str] = []
            expected = {p: {f for f in files if f not in lost} for p, files in acked.items()}
            missing, errors = verifier.wait_published(server.url, expected, args.publish_timeout)
            if missing:
                lost |= missing
                failures.append(
                    f"kill {k}: {len(missing)} acknowledged uploads not in python-tuf-verified metadata "
                    f"{args.publish_timeout:.0f} s after the restart: {', '.join(sorted(missing)[:5])}"
                )
            failures += [f"kill {k}: {e}" for e in errors]
            disk, served = orphans(data, server.url)
            orphans_on_disk = len(disk)
            new_served = set(served) - served_orphans
            if new_served:
                served_orphans |= new_served
                failures.append(
                    f"kill {k}: {len(new_served)} blobs without a record served with 200: "
                    + ", ".join(sorted(new_served)[:3])
                )
            versions.poll_served(server.url)
            versions.scan_disk(data, f"after restart {k}")
            failures += [f"kill {k}: version reused: {c}" for c in versions.conflicts[conflicts_before:]]
            if failures:
                row.failures += failures
                say(f"sigkill {k + 1}/{args.kills}: FAILED: {failures[0]}")
            else:
                row.survived += 1
                if (k + 1) % 10 == 0 or k + 1 == args.kills:
                    say(f"sigkill {k + 1}/{args.kills}: ok")
    # Watcher stopped: conflicts it noted between the last check and now.
    if server.alive():
        _, errors = verifier.pages(server.url, acked.keys(), full=True)
        row.failures += [f"final sweep: {e}" for e in errors]
    row.failures += [f"version reused (seen by the poller): {c}" for c in versions.conflicts
                     if not any(c in f for f in row.failures)]
    server.kill()
    n_acked = sum(len(v) for v in acked.values())
    row.notes = (
        f"{n_acked} of {tried_uploads} uploads acked; {after_ack_kills} kills right after an ack, "
        f"{mid_publish} left a publish run's staged metadata; "
        f"{len(lost)} acked missing; {len(versions.seen)} metadata versions, {len(versions.conflicts)} reused; "
        f"{len(served_orphans)} orphan blobs served ({orphans_on_disk} on disk)"
    )
    return row


def interrupted_publish(data: Path, temps_seen: set[str]) -> int:
    """1 if the kill evidently came in the middle of a publish run: a new
    temporary file under blobs/tuf/ (a staged page or role), or a snapshot
    newer than the one the on-disk timestamp names."""
    tuf = data / "blobs" / "tuf"
    temps = {str(p) for p in tuf.rglob(".tmp-*")}
    new_temps = temps - temps_seen
    temps_seen |= temps
    meta = tuf / "metadata"
    try:
        named = json.loads((meta / "timestamp.json").read_bytes())["signed"]["meta"]["snapshot.json"]["version"]
        newest = max(int(n.split(".", 1)[0]) for n in os.listdir(meta) if n.endswith(".snapshot.json"))
    except (OSError, ValueError, KeyError):
        return int(bool(new_temps))
    return int(bool(new_temps) or newest > named)


# ------------------------------------------------------- eio and enospc


class Reader:
    """Reads a known page, file and the timestamp in a loop; notes failures."""

    def __init__(self, url: str, paths: list[str]):
        self.url, self.paths = url, paths
        self.count = 0
        self.failed: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            for path in self.paths:
                status, _ = get(self.url + path, timeout=30)
                self.count += 1
                if status != 200:
                    self.failed.append(f"GET {path}: {status}")
            self.stop.wait(0.05)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


class FaultRig:
    """A server with a fresh data directory and one published file, for
    rounds of: fault on, upload, checks under the fault, fault off, recovery."""

    def __init__(self, ctx: Context, name: str, work: Path, data: Path, env: dict | None = None):
        self.ctx = ctx
        self.work = work  # the client's files: not on the data directory's file system
        self.server = ctx.server(name, data, env)
        self.server.start()
        self.token = self.server.token()
        self.verifier = Verifier(self.server.root(), self.work / "client")
        self.dists = Dists(self.work / "dist")
        self.acked: dict[str, set[str]] = {}
        project, path = self.dists.make(ctx.rng)
        status, reason, _ = upload(self.server.url, self.token, path)
        if status != 200:
            raise RuntimeError(f"{name}: the first upload (no fault) got {status} {reason}")
        self.acked[project] = {path.name}
        missing, errors = self.verifier.wait_published(self.server.url, self.acked, ctx.args.publish_timeout)
        if missing or errors:
            raise RuntimeError(f"{name}: the first upload was not published: {missing} {errors}")
        entry = self.verifier.pages(self.server.url, [project])[0][project][path.name]
        self.reads = ["/tuf/metadata/timestamp.json", f"/simple/{project}/", f"/files/{entry['url'].split('/files/', 1)[1]}"]

    def round(self, label: str, fault_on, fault_off, path: Path, must_not_200: str,
              after_upload: bool = False) -> list[str]:
        """One round; returns its invariant failures. `must_not_200`, when not
        empty, says why a 200 would be a lie (every write failed, …).
        `after_upload`: the fault begins as soon as the upload is
        acknowledged, so it hits the publish run that the upload woke."""
        args = self.ctx.args
        server = self.server
        failures = []
        with Reader(server.url, self.reads) as reader:
            if not after_upload:
                fault_on()
            status, reason, seconds = upload(server.url, self.token, path, timeout=args.hang_timeout)
            if after_upload:
                fault_on()
            time.sleep(0.3)  # reads (and the publisher) go on under the fault
            _, errors = self.verifier.pages(server.url, self.acked.keys())
            fault_off()
        project = project_of(path)
        if status is None:
            failures.append(f"{label}: upload got no answer ({reason}, {seconds:.1f} s)")
        elif status == 200:
            if must_not_200:
                failures.append(f"{label}: upload acknowledged with 200 although {must_not_200}")
            self.acked.setdefault(project, set()).add(path.name)
        elif not 500 <= status < 600:
            failures.append(f"{label}: upload answered {status} {reason}, not a 5xx")
        self.last_status = status
        failures += [f"{label}: read during the fault failed: {f}" for f in sorted(set(reader.failed))]
        failures += [f"{label}: under the fault: {e}" for e in errors]
        if not server.alive():
            failures.append(f"{label}: the server died (exit {server.proc.returncode}):\n{server.log_tail(10)}")
            server.start()
        # Recovery: a new upload is acknowledged and published.
        project, fresh = self.dists.make(self.ctx.rng)
        status, reason, _ = upload(server.url, self.token, fresh, timeout=args.hang_timeout)
        if status != 200:
            failures.append(f"{label}: after the fault, a new upload got {status} {reason}")
        else:
            self.acked.setdefault(project, set()).add(fresh.name)
        missing, errors = self.verifier.wait_published(server.url, self.acked, args.publish_timeout)
        if missing:
            failures.append(
                f"{label}: after the fault, acknowledged uploads not in verified metadata within "
                f"{args.publish_timeout:.0f} s: {', '.join(sorted(missing))}"
            )
            for p in self.acked:  # report each lost file once
                self.acked[p] -= missing
        failures += [f"{label}: after the fault: {e}" for e in errors]
        return failures

    def finish(self) -> list[str]:
        _, errors = self.verifier.pages(self.server.url, self.acked.keys(), full=True)
        self.server.kill()
        return [f"final sweep: {e}" for e in errors]


def eio(ctx: Context) -> list[Row]:
    args, rng = ctx.args, ctx.rng
    work = ctx.work / "eio"
    work.mkdir()
    data = work / "data"
    shim = Shim(args.shim, work / "fault.ctl", data)
    ctx.cleanups.append(shim.close)
    rig = FaultRig(ctx, "eio", work, data, shim.env())
    rows = []
    strace = Strace(work / "strace.out", ctx.pidfile)
    ctx.cleanups.append(strace.disarm)
    # Where each class of call is failed: the shim for calls made through
    # libc, strace for the raw system calls of tempfile/rustix.
    raw = {"write": [], "fsync": ["syncfs"], "rename": ["rename", "renameat", "renameat2"]}
    for op in ("write", "fsync", "rename"):
        row = Row(f"eio:{op}")
        injected = 0
        fives = oks = 0
        publish_hits = 0
        for r in range(args.eio_rounds):
            # Round kinds, in turn: every call fails from the start (the upload
            # must fail); the fault begins after a seeded number of calls
            # (inside the upload's I/O, its database commit, or the publish
            # run it wakes); the fault begins when the upload is acknowledged
            # (it hits the publish run).
            kind = r % 3
            skip = rng.randint(1, 40 if op == "write" else 6) if kind == 1 else 0
            _, path = rig.dists.make(rng, "sdist" if rng.random() < 0.3 else "wheel")
            label = f"eio:{op} round {r} ({['from the start', f'after {skip} calls', 'after the ack'][kind]})"
            failed = [0]

            def fault_on(op=op, skip=skip):
                if op != "rename":
                    shim.arm(op, skip, errno.EIO)
                if raw[op]:
                    strace.arm(rig.server.pid, raw[op], skip)

            def fault_off(op=op):
                failed[0] = strace.disarm() if raw[op] else 0
                if op != "rename":
                    shim.disarm(op)
                    failed[0] += shim.failed(op)

            failures = rig.round(
                label, fault_on, fault_off, path,
                f"every {op} on the data directory failed" if kind == 0 else "",
                after_upload=kind == 2,
            )
            injected += failed[0]
            if kind == 2:
                publish_hits += failed[0] > 0
            else:
                fives += rig.last_status is not None and 500 <= rig.last_status < 600
                oks += rig.last_status == 200
            row.judge(label, failures)
        how = {"write": "shim: write/pwrite/writev", "fsync": "shim: fsync/fdatasync, strace: syncfs",
               "rename": "strace: rename/renameat/renameat2"}[op]
        row.notes = (
            f"{injected} calls failed with EIO ({how}); uploads under the fault: {fives} got 5xx, "
            f"{oks} got 200 (fault after their I/O); {publish_hits}/{args.eio_rounds // 3} publish runs hit"
        )
        rows.append(row)
    rows[-1].failures += rig.finish()
    return rows


def enospc(ctx: Context) -> Row:
    args, rng = ctx.args, ctx.rng
    row = Row("enospc")
    work = ctx.work / "enospc"
    work.mkdir()
    disk = SmallDisk(work / "disk", args.disk_mb)
    ctx.cleanups.append(disk.unmount)
    shim = None
    if disk.mount():
        data = disk.mountpoint / "data"
        rig = FaultRig(ctx, "enospc", work, data)
        how = disk.kind
    else:
        # No mount possible here: ENOSPC on every write through the shim.
        data = work / "data"
        shim = Shim(args.shim, work / "fault.ctl", data)
        ctx.cleanups.append(shim.close)
        rig = FaultRig(ctx, "enospc", work, data, shim.env())
        how = "EMULATED: mount refused, ENOSPC on every write via LD_PRELOAD"
    fives = oks = 0
    for r in range(args.disk_rounds):
        slack = 0 if r % 2 == 0 else rng.choice([4 << 10, 16 << 10, 64 << 10, 256 << 10])
        _, path = rig.dists.make(rng, pad=rng.randint(64, 512) << 10)
        size = path.stat().st_size
        free = [0]

        def fault_on(slack=slack):
            if shim:
                shim.arm("write", 0, errno.ENOSPC)
            else:
                free[0] = disk.fill(slack)

        def fault_off():
            if shim:
                shim.disarm("write")
            else:
                disk.empty()

        label = f"enospc round {r} (slack {slack >> 10} KiB)"
        failures = rig.round(
            label, fault_on, fault_off, path,
            "",  # decided below, once the free space is known
        )
        label = f"enospc round {r} (free {free[0] >> 10} KiB, upload {size >> 10} KiB)"
        if rig.last_status == 200 and (shim or free[0] < size):
            failures.append(f"{label}: upload acknowledged with 200 though larger than the free space")
        fives += rig.last_status is not None and 500 <= rig.last_status < 600
        oks += rig.last_status == 200
        row.judge(label, failures)
    row.failures += rig.finish()
    row.notes = f"{how}; uploads on the full disk: {fives} got 5xx, {oks} got 200"
    return row


# ------------------------------------------------------------------- load


def load(ctx: Context) -> list[Row]:
    args, rng = ctx.args, ctx.rng
    work = ctx.work / "load"
    work.mkdir()
    server = ctx.server("load", work / "data", {"BULWARK_REQUEST_TIMEOUT_SECS": "10"})
    server.start()
    token = server.token()
    verifier = Verifier(server.root(), work / "client")
    dists = Dists(work / "dist")
    # A few published files for the downloaders.
    known: dict[str, set[str]] = {}
    for _ in range(8):
        project, path = dists.make(rng)
        status, reason, _ = upload(server.url, token, path)
        if status != 200:
            raise RuntimeError(f"load: a setup upload got {status} {reason}")
        known.setdefault(project, set()).add(path.name)
    verifier.wait_published(server.url, known, args.publish_timeout)
    pages, _ = verifier.pages(server.url, known.keys())
    reads = ["/tuf/metadata/timestamp.json"]
    for project, entries in pages.items():
        reads.append(f"/simple/{project}/")
        reads += [f"/files/{e['url'].split('/files/', 1)[1]}" for e in entries.values()]
    uploads = [[dists.make(rng)[1] for _ in range(args.load_requests)] for _ in range(args.load_uploaders)]
    downloads = [[rng.choice(reads) for _ in range(args.load_requests)] for _ in range(args.load_downloaders)]

    slow = Slowloris(server.url, drip=args.slowloris_sockets * 5 // 6,
                     idle=args.slowloris_sockets - args.slowloris_sockets * 5 // 6)
    began = time.monotonic()
    slow.open()
    peak_fds = [open_fds(server.pid)]
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.wait(0.5):
            peak_fds[0] = max(peak_fds[0], open_fds(server.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    say(f"load: {len(slow.sockets)} slowloris sockets open; "
        f"{args.load_uploaders} uploaders and {args.load_downloaders} downloaders start")
    outcomes = run_load(server.url, token, uploads, downloads, timeout=args.hang_timeout)
    load_secs = time.monotonic() - began
    while time.monotonic() - began < args.slowloris_secs and not slow.all_closed():
        time.sleep(0.5)
    sampling.set()
    sampler.join()
    slow.close()

    rows = []
    row = Row("load", tried=len(outcomes))
    ok = [o for o in outcomes if o.status == 200]
    refused = [o for o in outcomes if o.status == 503]
    bad = [o for o in outcomes if o.status not in (200, 503)]
    row.survived = len(ok) + len(refused)
    by_error: dict[str, int] = {}
    for o in bad:
        key = f"{o.kind} {o.status if o.status is not None else 'no answer'}: {o.error.split(':')[0]}"
        by_error[key] = by_error.get(key, 0) + 1
    row.failures += [f"load: {n} x {key}" for key, n in sorted(by_error.items())]
    ack_names = [o.name for o in outcomes if o.kind == "upload" and o.status == 200]
    acked: dict[str, set[str]] = {}
    for name in ack_names:
        acked.setdefault(project_of(Path(name)), set()).add(name)
    missing, errors = verifier.wait_published(server.url, acked, args.publish_timeout * 2)
    if missing:
        row.failures.append(f"load: {len(missing)} acknowledged uploads not in verified metadata: "
                            + ", ".join(sorted(missing)[:5]))
    row.failures += [f"load: {e}" for e in errors]
    lat = {kind: [o.seconds for o in ok if o.kind == kind] for kind in ("upload", "download")}
    row.notes = (
        f"{len(ok)} ok, {len(refused)} 503, {len(bad)} failed in {load_secs:.0f} s; "
        f"upload p50 {percentile(lat['upload'], .5) * 1000:.0f} ms p99 {percentile(lat['upload'], .99) * 1000:.0f} ms, "
        f"download p50 {percentile(lat['download'], .5) * 1000:.0f} ms p99 {percentile(lat['download'], .99) * 1000:.0f} ms; "
        f"{len(ack_names)} uploads acked, {len(missing)} unpublished; server fds peak {peak_fds[0]}"
    )
    rows.append(row)

    cut = [s for s in slow.sockets if s.closed is not None]
    srow = Row("slowloris", tried=len(slow.sockets), survived=len(cut))
    for kind in ("drip", "idle"):
        still = [s for s in slow.sockets if s.kind == kind and s.closed is None]
        if still:
            srow.failures.append(
                f"slowloris: {len(still)} {kind} sockets still open after {args.slowloris_secs:.0f} s "
                f"(request_timeout_secs=10)"
            )
    answered = sum(1 for s in slow.sockets if s.answered)
    last = max((s.closed for s in cut), default=0.0)
    srow.notes = (
        f"cut off: {sum(s.kind == 'drip' for s in cut)}/{sum(s.kind == 'drip' for s in slow.sockets)} "
        f"header-drip, {sum(s.kind == 'idle' for s in cut)}/{sum(s.kind == 'idle' for s in slow.sockets)} idle "
        f"keep-alive within {args.slowloris_secs:.0f} s (last at {last:.0f} s, "
        f"{sum(s.refused for s in slow.sockets)} refused at connect, {answered} answered before closing)"
    )
    rows.append(srow)
    server.kill()
    return rows


# ------------------------------------------------------------------- main


def table(rows: list[Row]) -> str:
    lines = [f"{'scenario':<14} {'tried':>6} {'survived':>9}   notes"]
    for r in rows:
        mark = "" if not r.failures else "  [FAILED]"
        lines.append(f"{r.scenario:<14} {r.tried:>6} {r.survived:>9}   {r.notes}{mark}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="the CI profile (a few minutes)")
    parser.add_argument("--seed", type=int, default=None, help="replay a run (printed at the start)")
    parser.add_argument("--only", action="append", choices=SCENARIOS, help="run only these scenarios")
    parser.add_argument("--bulwark", required=True, help="the bulwark binary")
    parser.add_argument("--shim", type=Path, required=True, help="faultshim.so")
    parser.add_argument("--work-dir", type=Path, required=True)
    for name in PROFILES["full"]:
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=None)
    parser.add_argument("--slowloris-secs", type=float, default=45.0)
    parser.add_argument("--disk-mb", type=int, default=48)
    parser.add_argument("--publish-timeout", type=float, default=30.0,
                        help="how long an acknowledged upload may take to reach verified metadata")
    parser.add_argument("--hang-timeout", type=float, default=30.0,
                        help="a request with no answer after this long is a hang")
    args = parser.parse_args()
    profile = PROFILES["short" if args.short else "full"]
    for name, value in profile.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1 << 32)
    only = args.only or SCENARIOS
    # The command line to replay this run: the user's options and the seed.
    user_args, skip_next = [], False
    for arg in sys.argv[1:]:
        if skip_next:
            skip_next = False
        elif arg in ("--bulwark", "--shim", "--work-dir", "--seed"):
            skip_next = True
        elif not arg.startswith(("--bulwark=", "--shim=", "--work-dir=", "--seed=")):
            user_args.append(arg)
    replay = shlex.join(["scripts/chaos", *user_args, "--seed", str(args.seed)])
    say(f"seed {args.seed} (replay: {replay}); work directory {args.work_dir}")

    def interrupted(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    ctx = Context(args)
    rows: list[Row] = []
    started = time.monotonic()
    try:
        for name in only:
            say(f"scenario {name}")
            began = time.monotonic()
            try:
                result = {"sigkill": sigkill, "eio": eio, "enospc": enospc, "load": load}[name](ctx)
            except RuntimeError as e:
                result = Row(name, notes="could not run", failures=[f"{name}: {e}"])
            rows += result if isinstance(result, list) else [result]
            say(f"scenario {name} done in {time.monotonic() - began:.0f} s")
    finally:
        for cleanup in reversed(ctx.cleanups):
            try:
                cleanup()
            except Exception as e:  # noqa: BLE001 (clean up the rest regardless)
                say(f"cleanup: {e}")
    print(f"\nseed {args.seed}, {time.monotonic() - started:.0f} s\n")
    print(table(rows))
    failures = [f for r in rows for f in r.failures]
    if failures:
        print(f"\n{len(failures)} invariant failures (replay: {replay}):")
        for f in failures:
            print(f"  - {f}")
        return 1
    print("\nevery invariant held")
    return 0


if __name__ == "__main__":
    sys.exit(main())
