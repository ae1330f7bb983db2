"""Fault injection for the reliability suite (tests/chaos/chaos.py).

- `Shim`: drives tests/chaos/faultshim.c, an LD_PRELOAD library that fails
  the server's write/fsync/rename calls on files under its data directory
  (sockets and the log are not touched). scripts/chaos builds it with gcc;
  the control file it maps is rewritten here while the server runs.
- `Strace`: `strace -f -p PID -e inject=…:error=EIO:when=N+` attached to the
  running server, for the calls that bypass libc and so the shim: the Rust
  crates `tempfile` and `rustix` issue `renameat` and `syncfs` as raw
  system calls. Every rename and syncfs the server makes once started is on
  its data directory, so no path filter is needed.
- `SmallDisk`: a size-limited file system for the full-disk scenario: a
  tmpfs mount, else a loop-mounted ext4 image; `fill` writes a filler file
  until ENOSPC and then frees a chosen number of bytes.
"""

from __future__ import annotations

import errno
import mmap
import os
import select
import signal
import struct
import subprocess
import time
from pathlib import Path

OPS = {"write": 0, "fsync": 1, "rename": 2}
# struct op_control { int32 armed, skip, err, failed } per op, in faultshim.c
OP_SIZE = 16


class Shim:
    """The control file of faultshim.so and the environment that loads it."""

    def __init__(self, library: Path, control: Path, data_dir: Path):
        self.library = library
        self.control = control
        self.data_dir = data_dir
        control.write_bytes(bytes(4096))
        self.fd = os.open(control, os.O_RDWR)
        self.map = mmap.mmap(self.fd, 4096)

    def env(self) -> dict:
        return {
            "LD_PRELOAD": str(self.library),
            "CHAOS_FAULT_CTL": str(self.control),
            "CHAOS_FAULT_DIR": str(self.data_dir.resolve()),
        }

    def arm(self, op: str, skip: int = 0, err: int = errno.EIO) -> None:
        """From now on, after `skip` more matching calls, every `op` call on
        the data directory fails with `err`."""
        at = OPS[op] * OP_SIZE
        struct.pack_into("<iii", self.map, at + 4, skip, err, 0)  # skip, err, failed = 0
        struct.pack_into("<i", self.map, at, 1)

    def disarm(self, op: str) -> None:
        struct.pack_into("<i", self.map, OPS[op] * OP_SIZE, 0)

    def failed(self, op: str) -> int:
        """How many `op` calls the shim has failed since the last `arm`."""
        return struct.unpack_from("<i", self.map, OPS[op] * OP_SIZE + 12)[0]

    def close(self) -> None:
        for op in OPS:
            self.disarm(op)
        self.map.close()
        os.close(self.fd)


class Strace:
    """strace attached to a process, failing some system calls while it runs."""

    def __init__(self, log: Path, pidfile: Path):
        self.log = log
        self.pidfile = pidfile
        self.proc: subprocess.Popen | None = None
        self.injected = 0

    def arm(self, pid: int, syscalls: list[str], skip: int, err: str = "EIO") -> None:
        """Fails every call of `syscalls` after the first `skip` (strace counts
        per thread) until `disarm`; returns once strace is attached."""
        names = ",".join(syscalls)
        self.proc = subprocess.Popen(
            ["strace", "-f", "-p", str(pid), "-o", str(self.log), "-e", f"trace={names}",
             "-e", f"inject={names}:error={err}:when={skip + 1}+"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        with open(self.pidfile, "a") as f:
            f.write(f"{self.proc.pid}\n")
        seen = b""
        deadline = time.monotonic() + 30
        while b"attached" not in seen:
            ready, _, _ = select.select([self.proc.stderr], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(self.proc.stderr.fileno(), 4096) if ready else b""
            if not chunk:
                self.disarm()
                raise RuntimeError(f"strace could not attach to {pid}: {seen.decode(errors='replace')}")
            seen += chunk

    def disarm(self) -> int:
        """Detaches; returns how many calls it failed while armed."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # strace detaches cleanly
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stderr.close()
        self.proc = None
        try:
            injected = self.log.read_text(errors="replace").count("(INJECTED)")
        except OSError:
            injected = 0
        self.injected = injected
        return injected


class SmallDisk:
    """A small file system mounted at `mountpoint` (tmpfs, else loop ext4).
    `kind` says which; `mount` returns False if neither can be mounted."""

    def __init__(self, mountpoint: Path, size_mb: int):
        self.mountpoint = mountpoint
        self.size_mb = size_mb
        self.kind = ""
        self.image: Path | None = None
        self.filler = mountpoint / "filler"

    def mount(self) -> bool:
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        tmpfs = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m", "chaos-tmpfs", str(self.mountpoint)],
            capture_output=True, text=True, check=False,
        )
        if tmpfs.returncode == 0:
            self.kind = f"tmpfs {self.size_mb} MB"
            return True
        self.image = self.mountpoint.with_suffix(".img")
        with open(self.image, "wb") as f:
            f.truncate(self.size_mb << 20)
        steps = [
            ["mkfs.ext4", "-q", "-F", str(self.image)],
            ["mount", "-o", "loop", str(self.image), str(self.mountpoint)],
        ]
        for step in steps:
            if subprocess.run(step, capture_output=True, check=False).returncode != 0:
                self.image.unlink(missing_ok=True)
                return False
        self.kind = f"loop ext4 {self.size_mb} MB (tmpfs refused: {tmpfs.stderr.strip()})"
        return True

    def fill(self, slack: int) -> int:
        """Writes the filler until ENOSPC, then frees about `slack` bytes.
        Returns the bytes free afterwards (statvfs)."""
        with open(self.filler, "ab", buffering=0) as f:
            for chunk in (1 << 20, 64 << 10, 4 << 10, 512):
                block = b"\0" * chunk
                while True:
                    try:
                        f.write(block)  # unbuffered: a short write is fine
                    except OSError as e:
                        if e.errno != errno.ENOSPC:
                            raise
                        break
            size = f.tell()
        if slack:
            os.truncate(self.filler, max(0, size - slack))
        return self.free()

    def free(self) -> int:
        st = os.statvfs(self.mountpoint)
        return st.f_bavail * st.f_frsize

    def empty(self) -> None:
        self.filler.unlink(missing_ok=True)

    def unmount(self) -> None:
        if self.kind:
            subprocess.run(["umount", "-l", str(self.mountpoint)], capture_output=True, check=False)
            self.kind = ""
        if self.image is not None:
            self.image.unlink(missing_ok=True)
