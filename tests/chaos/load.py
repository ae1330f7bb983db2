"""The bounded load run of the reliability suite (tests/chaos/chaos.py).

- `run_load`: many uploader and downloader threads at once against one
  server on loopback, each doing a fixed number of requests; every request
  is recorded with its status and latency. A request answered 200 is a
  success, a 503 a clean refusal (a server may cap connections or uploads);
  anything else (another status, a connection error, no answer within the
  client timeout) is a failure.
- `Slowloris`: ~300 sockets held open against the same server: most send a
  request's headers one byte per second and never finish them; the others
  make one complete keep-alive request and then stay idle. It notes when
  the server closes each one (or refuses it), so the suite can say whether
  the slow clients were cut off.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from index import get, upload


@dataclass
class Outcome:
    kind: str
    status: int | None
    seconds: float
    error: str = ""
    name: str = ""  # the uploaded file's name


def run_load(url: str, token: str, uploads: list[list[Path]], downloads: list[list[str]],
             timeout: float) -> list[Outcome]:
    """One thread per list in `uploads` (files to POST in turn) and in
    `downloads` (URL paths to GET in turn), all released at once."""
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    start = threading.Barrier(len(uploads) + len(downloads))

    def uploader(files: list[Path]) -> None:
        start.wait()
        for path in files:
            status, reason, seconds = upload(url, token, path, timeout=timeout)
            with lock:
                outcomes.append(Outcome("upload", status, seconds, "" if status == 200 else reason, path.name))

    def downloader(paths: list[str]) -> None:
        start.wait()
        for path in paths:
            began = time.monotonic()
            status, _ = get(url + path, timeout=timeout)
            with lock:
                outcomes.append(Outcome("download", status, time.monotonic() - began,
                                        "" if status == 200 else f"GET {path}"))

    threading.stack_size(512 << 10)
    threads = [threading.Thread(target=uploader, args=(files,)) for files in uploads]
    threads += [threading.Thread(target=downloader, args=(paths,)) for paths in downloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Slow:
    kind: str  # "drip" (headers at 1 byte/s) or "idle" (keep-alive, idle)
    sock: socket.socket | None
    opened: float
    closed: float | None = None  # seconds after opening when the server closed it
    refused: bool = False  # connect refused: a clean refusal
    answered: bytes = b""  # what the server sent before closing (e.g. a 408)
    sent: int = 0


@dataclass
class Slowloris:
    url: str
    drip: int = 250
    idle: int = 50
    sockets: list[Slow] = field(default_factory=list)

    def __post_init__(self):
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        parts = urlsplit(self.url)
        self.addr = (parts.hostname, parts.port)
        # An endless header block: the request line, Host, then a header
        # whose value never ends.
        self.head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "

    def open(self) -> None:
        for i in range(self.drip + self.idle):
            kind = "drip" if i < self.drip else "idle"
            now = time.monotonic()
            try:
                sock = socket.create_connection(self.addr, timeout=5)
            except OSError:
                self.sockets.append(Slow(kind, None, now, closed=0.0, refused=True))
                continue
            slow = Slow(kind, sock, now)
            try:
                if kind == "idle":
                    self._one_request(sock)
                else:
                    sock.sendall(self.head[:1])
                    slow.sent = 1
            except OSError:
                slow.closed = time.monotonic() - now
            sock.setblocking(False)
            self.sockets.append(slow)
        self.thread.start()

    def _one_request(self, sock: socket.socket) -> None:
        """A complete keep-alive request, read to the end of its response."""
        sock.sendall(b"GET /tuf/metadata/timestamp.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise OSError("closed before the response")
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise OSError("closed mid-response")
            body += chunk

    def run(self) -> None:
        """Every second: one more header byte on each drip socket; notes
        every socket the server has closed."""
        while not self.stop.wait(1.0):
            self.poll()

    def poll(self) -> None:
        now = time.monotonic()
        open_ = [s for s in self.sockets if s.closed is None]
        if not open_:
            return
        readable, _, _ = select.select([s.sock for s in open_], [], [], 0)
        for s in open_:
            if s.sock in readable:
                try:
                    chunk = s.sock.recv(65536)
                except BlockingIOError:
                    chunk = None
                except OSError:
                    chunk = b""
                if chunk == b"":
                    s.closed = now - s.opened
                    continue
                if chunk:
                    s.answered += chunk[:200]
            if s.kind == "drip":
                byte = self.head[s.sent:s.sent + 1] or b"a"
                try:
                    s.sock.send(byte)
                    s.sent += 1
                except BlockingIOError:
                    pass
                except OSError:
                    s.closed = now - s.opened

    def all_closed(self) -> bool:
        return all(s.closed is not None for s in self.sockets)

    def close(self) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()
        self.poll()
        for s in self.sockets:
            if s.sock is not None:
                s.sock.close()


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0
