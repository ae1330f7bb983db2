"""The index under test and the checks the reliability suite makes of it.

Used by tests/chaos/chaos.py (run it through scripts/chaos). What lives here:

- `Server`: a real `bulwark serve --listen 127.0.0.1:0` on a data directory,
  started the way crates/bulwark/tests/common starts it (URL read from the
  first stdout line, development keys under BULWARK_KEY_PASSPHRASE), killed
  with SIGKILL, restarted on the same directory.
- `Dists`: fresh wheels and sdists (tests/python/make_dist.py), each file
  name used once, so every upload is a new file.
- `upload`: one twine-style multipart POST /legacy/ (`:action=file_upload`,
  `sha256_digest`, `content`), as plain HTTP.
- `Verifier`: python-tuf's ngclient over the index, trusting
  <data-dir>/root.json, with one metadata directory kept for the whole
  scenario (so a rollback across restarts is refused): refreshes, downloads
  every project page `simple/<name>/index.json` through TUF, and checks that
  every file a verified page lists is served with its listed size and
  sha256; `wait_published` polls until given files are on verified pages.
- `Versions`: every (role, version) of TUF metadata ever seen, served
  (timestamp.json and the snapshot it names) or on disk
  (blobs/tuf/metadata/<N>.<role>.json), with the sha256 of its bytes: the
  same version with other bytes is a reused version.
- `orphans`: file blobs (blobs/files/<sha256>/<name>[.metadata]) that have no
  record in the database's `files` table, and which of them are served.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import select
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from pathlib import Path
from urllib.parse import urljoin, urlsplit

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "python"))
import make_dist  # noqa: E402  (the project's own distribution builder)

from tuf.ngclient import Updater  # noqa: E402

PASSPHRASE = "chaos suite passphrase"
USER = "chaos"


class Server:
    """A `bulwark serve` process on `data`; `start` again after `kill`."""

    def __init__(self, binary: str, data: Path, log: Path, pidfile: Path, env: dict | None = None):
        self.binary, self.data, self.log, self.pidfile = binary, data, log, pidfile
        self.env = dict(env or {})
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.starts = 0

    def start(self, timeout: float = 120.0) -> str:
        env = dict(os.environ)
        env.update(
            BULWARK_KEY_PASSPHRASE=PASSPHRASE,
            BULWARK_LOG="info,bulwark_server=debug",
            NO_COLOR="1",
        )
        env.update(self.env)
        with open(self.log, "ab") as log:
            log.write(f"\n==== start {self.starts} at {time.time():.3f}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [self.binary, "serve", "--data-dir", str(self.data), "--listen", "127.0.0.1:0"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
            )
        with open(self.pidfile, "a") as f:
            f.write(f"{self.proc.pid}\n")
        self.starts += 1
        line = b""
        deadline = time.monotonic() + timeout
        while not line.endswith(b"\n"):
            ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                self.kill()
                raise RuntimeError(f"bulwark serve printed no banner in {timeout:.0f} s; log {self.log}")
            chunk = os.read(self.proc.stdout.fileno(), 1)
            if not chunk:
                self.proc.wait()
                raise RuntimeError(
                    f"bulwark serve exited with {self.proc.returncode} before its banner:\n{self.log_tail()}"
                )
            line += chunk
        words = [w for w in line.decode(errors="replace").split() if w.startswith("http://")]
        if not words:
            self.kill()
            raise RuntimeError(f"unexpected banner {line!r}")
        self.url = words[0].rstrip("/")
        # Keep draining stdout so that the server never blocks on a full pipe.
        threading.Thread(target=_drain, args=(self.proc.stdout,), daemon=True).start()
        return self.url

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def token(self) -> str:
        env = dict(os.environ, BULWARK_KEY_PASSPHRASE=PASSPHRASE)
        out = subprocess.run(
            [self.binary, "token", "create", "--data-dir", str(self.data), USER],
            env=env, capture_output=True, text=True, check=False,
        )
        token = out.stdout.strip()
        if out.returncode != 0 or not token.startswith("bwk_"):
            raise RuntimeError(f"bulwark token create failed: {out.stderr.strip()}")
        return token

    def root(self) -> bytes:
        return (self.data / "root.json").read_bytes()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _drain(stream) -> None:
    try:
        while stream.read(65536):
            pass
    except (OSError, ValueError):
        pass


class Dists:
    """Fresh distributions: project `chaos-pNN`, version `1.<n>` with a new n
    each time, so every file name (and content) is uploaded once."""

    def __init__(self, out: Path, projects: int = 16):
        self.out = out
        self.projects = projects
        self.n = 0
        self.lock = threading.Lock()
        out.mkdir(parents=True, exist_ok=True)

    def make(self, rng, kind: str = "wheel", pad: int = 0) -> tuple[str, Path]:
        """Returns (project, path). `pad` adds that many random bytes (stored,
        not compressed) to a wheel, to fill a disk."""
        with self.lock:
            self.n += 1
            n = self.n
            project = f"chaos-p{rng.randrange(self.projects):02d}"
        version = f"1.{n}"
        meta = make_dist.metadata(project, version, [], "")
        if kind == "sdist":
            return project, Path(make_dist.write_sdist(str(self.out), project, version, meta))
        path = Path(make_dist.write_wheel(str(self.out), project, version, meta))
        if pad:
            _pad_wheel(path, project, version, rng.randbytes(pad // 2 + 1).hex()[:pad])
        return project, path


def _pad_wheel(path: Path, project: str, version: str, payload: str) -> None:
    """Rewrites the wheel at `path`, stored uncompressed, with one more module
    holding `payload` (random hex: it does not compress)."""
    module = make_dist.escaped(project)
    dist_info = f"{module}-{version}.dist-info"
    with zipfile.ZipFile(path) as z:
        files = {i.filename: z.read(i) for i in z.infolist() if not i.filename.endswith("RECORD")}
    files[f"{module}_pad.py"] = f"PAD = {payload!r}\n".encode()
    record = "\n".join(make_dist.record_line(p, d) for p, d in files.items()) + f"\n{dist_info}/RECORD,,\n"
    files[f"{dist_info}/RECORD"] = record.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for p, d in files.items():
            z.writestr(zipfile.ZipInfo(p, date_time=(2020, 1, 1, 0, 0, 0)), d)


def upload(url: str, token: str, path: Path, timeout: float = 60.0) -> tuple[int | None, str, float]:
    """POST /legacy/ as twine does. Returns (status or None, reason or error, seconds)."""
    data = path.read_bytes()
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in (
        (":action", "file_upload"),
        ("protocol_version", "1"),
        ("sha256_digest", hashlib.sha256(data).hexdigest()),
    ):
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="content"; filename="{path.name}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    body = b"".join(parts)
    auth = base64.b64encode(f"__token__:{token}".encode()).decode()
    host = urlsplit(url)
    start = time.monotonic()
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=timeout)
    try:
        conn.request(
            "POST",
            "/legacy/",
            body=body,
            headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Authorization": f"Basic {auth}",
                "Connection": "close",
            },
        )
        response = conn.getresponse()
        response.read()
        return response.status, response.reason, time.monotonic() - start
    except (OSError, http.client.HTTPException) as e:
        return None, f"{type(e).__name__}: {e}", time.monotonic() - start
    finally:
        conn.close()


def get(url: str, timeout: float = 30.0) -> tuple[int | None, bytes]:
    """GET url; (status or None on a connection error, body)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, b""
    except (OSError, http.client.HTTPException):
        return None, b""


class Verifier:
    """python-tuf over the index; one trusted-metadata directory for the whole
    scenario, so versions must never go backwards across restarts."""

    def __init__(self, root: bytes, work: Path):
        self.root = root
        self.meta = work / "tuf-meta"
        self.targets = work / "tuf-targets"
        self.meta.mkdir(parents=True, exist_ok=True)
        self.targets.mkdir(parents=True, exist_ok=True)
        # Files whose served bytes matched a verified page (content-addressed,
        # so checking each once is enough between full sweeps).
        self.checked: set[tuple[str, str]] = set()

    def pages(self, url: str, projects, full: bool = False) -> tuple[dict, list[str]]:
        """Refreshes, downloads the verified page of each of `projects` that
        the metadata lists, and checks the bytes of every file listed.
        Returns ({project: {filename: entry}}, errors)."""
        base = url.rstrip("/") + "/"
        errors: list[str] = []
        pages: dict[str, dict] = {}
        try:
            updater = Updater(
                str(self.meta), base + "tuf/metadata/", str(self.targets), base + "tuf/targets/",
                bootstrap=self.root,
            )
            updater.refresh()
        except Exception as e:  # noqa: BLE001 (any refusal is a finding)
            return {}, [f"python-tuf refresh refused: {type(e).__name__}: {e}"]
        for project in sorted(projects):
            target = f"simple/{project}/index.json"
            try:
                info = updater.get_targetinfo(target)
                if info is None:
                    continue
                path = updater.download_target(info, str(self.targets / f"{project}.json"))
                with open(path, "rb") as f:
                    page = json.load(f)
            except Exception as e:  # noqa: BLE001
                errors.append(f"python-tuf refused {target}: {type(e).__name__}: {e}")
                continue
            entries = {e["filename"]: e for e in page.get("files", [])}
            pages[project] = entries
            for name, entry in entries.items():
                key = (entry["hashes"]["sha256"], name)
                if key in self.checked and not full:
                    continue
                status, data = get(urljoin(base + f"simple/{project}/", entry["url"]))
                if status != 200:
                    errors.append(f"{name}: listed by the signed page of {project}, served with {status}")
                elif len(data) != entry["size"] or hashlib.sha256(data).hexdigest() != entry["hashes"]["sha256"]:
                    errors.append(f"{name}: served bytes do not match the signed page of {project}")
                else:
                    self.checked.add(key)
        return pages, errors

    def wait_published(self, url: str, expected: dict[str, set[str]], timeout: float) -> tuple[set[str], list[str]]:
        """Polls until every file of `expected` ({project: filenames}) is on
        its verified page. Returns (files still missing, verification errors
        of the last attempt)."""
        deadline = time.monotonic() + timeout
        while True:
            pages, errors = self.pages(url, expected.keys())
            missing = {f for p, files in expected.items() for f in files if f not in pages.get(p, {})}
            if (not missing and not errors) or time.monotonic() > deadline:
                return missing, errors
            time.sleep(0.25)


class Versions:
    """Every TUF metadata version seen, with the sha256 of its bytes."""

    ROLE_FILE = re.compile(r"^(\d+)\.(.+)\.json$")

    def __init__(self):
        self.seen: dict[tuple[str, int], tuple[str, str]] = {}
        self.conflicts: list[str] = []
        self.lock = threading.Lock()
        self.disk_cache: dict[str, tuple[int, int]] = {}

    def note(self, role: str, version: int, data: bytes, where: str) -> None:
        digest = hashlib.sha256(data).hexdigest()
        with self.lock:
            first = self.seen.setdefault((role, version), (digest, where))
            if first[0] != digest:
                self.conflicts.append(
                    f"{role} version {version}: {first[0][:12]} ({first[1]}) and then {digest[:12]} ({where})"
                )

    def poll_served(self, url: str) -> None:
        """Notes the served timestamp and the snapshot version it names."""
        status, data = get(url + "/tuf/metadata/timestamp.json", timeout=5)
        if status != 200:
            return
        try:
            signed = json.loads(data)["signed"]
        except (ValueError, KeyError):
            self.conflicts.append(f"timestamp.json served unparsable bytes: {data[:80]!r}")
            return
        self.note("timestamp", signed["version"], data, f"served by {url}")
        snapshot = signed["meta"]["snapshot.json"]["version"]
        if ("snapshot", snapshot) not in self.seen:
            status, data = get(f"{url}/tuf/metadata/{snapshot}.snapshot.json", timeout=5)
            if status == 200:
                self.note("snapshot", snapshot, data, f"served by {url}")

    def scan_disk(self, data_dir: Path, when: str) -> None:
        """Notes every <N>.<role>.json in the blob store (changed files only)."""
        meta = data_dir / "blobs" / "tuf" / "metadata"
        try:
            names = os.listdir(meta)
        except OSError:
            return
        for name in names:
            m = self.ROLE_FILE.match(name)
            if not m:
                continue
            path = meta / name
            try:
                st = path.stat()
                stamp = (st.st_mtime_ns, st.st_size)
                if self.disk_cache.get(name) == stamp:
                    continue
                data = path.read_bytes()
            except OSError:
                continue
            self.disk_cache[name] = stamp
            self.note(m.group(2), int(m.group(1)), data, f"on disk {when}")


class Watcher:
    """A thread noting served timestamp/snapshot versions every 50 ms."""

    def __init__(self, versions: Versions):
        self.versions = versions
        self.url = ""
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            if self.url:
                self.versions.poll_served(self.url)
            self.stop.wait(0.05)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def orphans(data_dir: Path, url: str) -> tuple[list[str], list[str]]:
    """File blobs without a record in the `files` table, and the ones among
    them that the server serves with 200. Returns (on disk, served)."""
    db = sqlite3.connect(f"file:{data_dir / 'state.sqlite3'}?mode=ro", uri=True, timeout=30)
    try:
        records = set(db.execute("SELECT sha256, filename FROM files"))
    finally:
        db.close()
    root = data_dir / "blobs" / "files"
    on_disk, served = [], []
    if not root.is_dir():
        return on_disk, served
    for sha in sorted(os.listdir(root)):
        for name in sorted(os.listdir(root / sha)):
            if name.startswith(".tmp-"):
                continue
            filename = name.removesuffix(".metadata")
            if (sha, filename) in records:
                continue
            on_disk.append(f"{sha}/{name}")
            status, _ = get(f"{url}/files/{sha}/{name}", timeout=10)
            if status == 200:
                served.append(f"files/{sha}/{name}")
    return on_disk, served


def project_of(path: Path) -> str:
    """chaos_p03-1.7-py3-none-any.whl -> chaos-p03"""
    return path.name.split("-")[0].replace("_", "-")


def tempdir(parent: Path, prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
