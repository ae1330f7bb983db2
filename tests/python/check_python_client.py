#!/usr/bin/env python3
"""Run a TUF client against every generated repository and compare its results
with the repository's expect.json.

Usage: check_python_client.py OUT_DIR BASE_URL [--client COMMAND]

OUT_DIR is the output of make_repos.py, served at BASE_URL (see serve.py):
repository <name> has its metadata at BASE_URL/<name>/metadata/ and its targets
at BASE_URL/<name>/targets/. COMMAND is the client to run, split like a shell
command line, by default tuf_client.py under this Python; any client that
speaks the protocol of tuf_client.py can be checked the same way.

Each repository gets one fresh metadata directory, used in turn for init,
refresh, a download of every target on its own (so later steps also exercise
the client's cached metadata), a download of all good targets at once, and a
download that lists a failing target before a good one, which must stop
before the good one. Prints a table and exits 1 on any disagreement.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
TIMEOUT_SECONDS = 60
OK, FAILS = "ok", "fails"


@dataclass
class Row:
    repo: str
    step: str
    expected: str
    got: str
    detail: str

    @property
    def passed(self) -> bool:
        return self.expected == self.got


@dataclass
class Result:
    exit_code: int | None  # None: timed out
    reason: str  # the client's last line on stderr

    @property
    def outcome(self) -> str:
        # Only 0 and 1 are answers of the protocol; anything else (a crash, a
        # usage error, a timeout) must never pass for an expected refusal.
        if self.exit_code is None:
            return "timed out"
        return {0: OK, 1: FAILS}.get(self.exit_code, f"exit {self.exit_code}")


def run(client: list[str], args: list[str]) -> Result:
    try:
        done = subprocess.run(
            client + args, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        return Result(None, "")
    lines = done.stderr.strip().splitlines()
    return Result(done.returncode, lines[-1] if lines else "")


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class RepoCheck:
    def __init__(self, client: list[str], repo_dir: Path, base_url: str, work: Path) -> None:
        self.client = client
        self.repo_dir = repo_dir
        self.name = repo_dir.name
        self.expect = json.loads((repo_dir / "expect.json").read_text())
        self.work = work
        self.metadata_args = [
            "--metadata-dir", str(work / "metadata"),
            "--metadata-url", f"{base_url}/{self.name}/metadata/",
        ]  # fmt: skip
        self.target_base_url = f"{base_url}/{self.name}/targets/"
        self.downloads = 0
        self.rows: list[Row] = []

    def row(self, step: str, expected: str, got: str, detail: str = "") -> None:
        self.rows.append(Row(self.name, step, expected, got, detail))

    def download(self, targets: list[str]) -> tuple[Result, Path]:
        # A fresh target directory per download, so a file can only be there
        # because this download wrote it.
        self.downloads += 1
        target_dir = self.work / f"targets-{self.downloads}"
        args = list(self.metadata_args)
        for target in targets:
            args += ["--target-name", target]
        args += ["--target-base-url", self.target_base_url, "--target-dir", str(target_dir)]
        return run(self.client, [*args, "download"]), target_dir

    def wrong_files(self, target_dir: Path, targets: list[str]) -> str:
        """Describe how the downloaded files differ from the expected ones."""
        for target in targets:
            path = target_dir / quote(target, "")
            if not path.is_file():
                return f"ok, but no file {path.name}"
            if sha256_file(path) != self.expect["targets"][target]["sha256"]:
                return f"ok, but {path.name} has the wrong content"
        return ""

    def check(self) -> list[Row]:
        result = run(
            self.client,
            ["--metadata-dir", str(self.work / "metadata"),
             "init", str(self.repo_dir / "initial_root.json")],
        )  # fmt: skip
        self.row("init", OK, result.outcome, result.reason)

        result = run(self.client, [*self.metadata_args, "refresh"])
        expected = OK if self.expect["refresh_ok"] else FAILS
        self.row("refresh", expected, result.outcome, result.reason)

        targets = self.expect["targets"]
        for target, want in sorted(targets.items()):
            result, target_dir = self.download([target])
            got = result.outcome
            if got == OK and want["ok"]:
                got = self.wrong_files(target_dir, [target]) or OK
            self.row(f"download {target}", OK if want["ok"] else FAILS, got, result.reason)

        good = sorted(t for t, want in targets.items() if want["ok"])
        bad = sorted(t for t, want in targets.items() if not want["ok"])
        if len(good) > 1:
            result, target_dir = self.download(good)
            got = result.outcome
            if got == OK:
                got = self.wrong_files(target_dir, good) or OK
            self.row(f"download all {len(good)} good targets", OK, got, result.reason)
        if good and bad:
            result, target_dir = self.download([bad[0], good[0]])
            got = result.outcome
            if got == FAILS and (target_dir / quote(good[0], "")).exists():
                got = "fails, but went on"
            self.row(f"download {bad[0]} then {good[0]}", FAILS, got, result.reason)
        return self.rows


def print_table(rows: list[Row]) -> None:
    table = [["repository", "step", "expected", "got", "result", "client's reason"]]
    for r in rows:
        result = "pass" if r.passed else "MISMATCH"
        table.append([r.repo, r.step, r.expected, r.got, result, r.detail[:110]])
    # The last column is free text and left unpadded.
    widths = [max(len(line[i]) for line in table) for i in range(5)]
    for line in table:
        padded = [cell.ljust(width) for cell, width in zip(line[:5], widths, strict=True)]
        print("  ".join([*padded, line[5]]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("base_url")
    parser.add_argument(
        "--client",
        default=shlex.join([sys.executable, str(HERE / "tuf_client.py")]),
        help="client command line (default: tuf_client.py under this Python)",
    )
    args = parser.parse_args()
    client = shlex.split(args.client)
    base_url = args.base_url.rstrip("/")

    repo_dirs = sorted(p.parent for p in args.out_dir.glob("*/expect.json"))
    if not repo_dirs:
        print(f"no repositories (*/expect.json) in {args.out_dir}", file=sys.stderr)
        return 1
    rows: list[Row] = []
    for repo_dir in repo_dirs:
        with tempfile.TemporaryDirectory(prefix=f"tuf-check-{repo_dir.name}-") as work:
            rows += RepoCheck(client, repo_dir, base_url, Path(work)).check()

    print(f"client: {args.client}")
    print_table(rows)
    failed = sum(not r.passed for r in rows)
    print(f"{len(rows) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
