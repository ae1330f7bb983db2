#!/usr/bin/env python3
"""python-tuf side of bulwark-bench's client CPU comparison (issue 5).

  ngclient_cpu.py --root ROOT_FILE --metadata-url URL --targets-url URL
      --project NAME --filename FILE --work-dir DIR [--samples N]

Each sample is a cold install lookup with python-tuf's ngclient, in fresh,
empty metadata and target directories under WORK_DIR: an Updater that
bootstraps from ROOT_FILE's bytes, refresh(), get_targetinfo() of the
project's signed page (simple/NAME/index.json), download_target() (length and
hashes checked by python-tuf), json.loads() of the page, then FILE as the page
lists it: downloaded with the updater's own fetcher from the page's relative
URL (resolved against the page's target URL) and its length and sha256
compared with the page.

The timed section is exactly that sequence; interpreter start-up, imports
and the creation and removal of the directories are outside it. CPU is
time.process_time_ns() (CLOCK_PROCESS_CPUTIME_ID: user + system time of the
whole process), wall time is time.perf_counter_ns(); both are reported in
whole microseconds.

Prints one JSON object on stdout, integers only (so that a strict JSON reader
without floats can take it): the versions, every sample and a summary.
Exit status 1 when a sample fails (with one line on stderr saying why), 2 for
a usage error or a bug in this script.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from urllib.parse import urljoin

import tuf
from tuf.api import exceptions
from tuf.ngclient import Updater, Urllib3Fetcher


class SampleError(Exception):
    """A sample that did not end with a verified file."""


def one_lookup(args: argparse.Namespace, root: bytes, metadata_dir: str, target_dir: str) -> str:
    """The timed section; returns the verified file's sha256."""
    page_target = f"simple/{args.project}/index.json"
    fetcher = Urllib3Fetcher()
    updater = Updater(
        metadata_dir=metadata_dir,
        metadata_base_url=args.metadata_url,
        target_dir=target_dir,
        target_base_url=args.targets_url,
        fetcher=fetcher,
        bootstrap=root,
    )
    updater.refresh()
    info = updater.get_targetinfo(page_target)
    if info is None:
        raise SampleError(f"{page_target}: no such target")
    path = updater.download_target(info)
    with open(path, "rb") as f:
        page = json.loads(f.read())
    listed = [file for file in page["files"] if file["filename"] == args.filename]
    if len(listed) != 1:
        raise SampleError(f"{args.filename} is listed {len(listed)} times on {page_target}")
    file = listed[0]
    url = urljoin(urljoin(args.targets_url, page_target), file["url"])
    data = fetcher.download_bytes(url, file["size"])
    if len(data) != file["size"]:
        raise SampleError(f"{url}: {len(data)} bytes, the page says {file['size']}")
    sha256 = hashlib.sha256(data).hexdigest()
    if sha256 != file["hashes"]["sha256"]:
        raise SampleError(f"{url}: sha256 {sha256} does not match the page")
    return sha256


def summary(values: list[int]) -> dict:
    return {
        "median": round(statistics.median(values)),
        "min": min(values),
        "max": max(values),
        "first": values[0],
    }


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        self.exit(2, f"usage error: {message}\n")


def main(argv: list[str]) -> int:
    parser = Parser(description="CPU of cold lookups with python-tuf's ngclient")
    parser.add_argument("--root", required=True, help="trusted root metadata file")
    parser.add_argument("--metadata-url", required=True)
    parser.add_argument("--targets-url", required=True)
    parser.add_argument("--project", required=True, help="normalized project name")
    parser.add_argument("--filename", required=True, help="distribution to check")
    parser.add_argument("--work-dir", required=True, help="where sample directories go")
    parser.add_argument("--samples", type=int, default=15)
    args = parser.parse_args(argv)
    if args.samples < 1:
        parser.error("--samples must be at least 1")
    if not args.targets_url.endswith("/"):
        args.targets_url += "/"

    with open(args.root, "rb") as f:
        root = f.read()
    os.makedirs(args.work_dir, exist_ok=True)
    cpu_us, wall_us, sha256 = [], [], None
    for n in range(args.samples):
        sample = tempfile.mkdtemp(prefix="ngclient-", dir=args.work_dir)
        metadata_dir = os.path.join(sample, "metadata")
        target_dir = os.path.join(sample, "targets")
        os.mkdir(metadata_dir)
        os.mkdir(target_dir)
        cpu, wall = time.process_time_ns(), time.perf_counter_ns()
        try:
            sha256 = one_lookup(args, root, metadata_dir, target_dir)
        except (SampleError, exceptions.RepositoryError, exceptions.DownloadError, OSError, KeyError) as e:
            print(f"sample {n + 1} failed: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
        except Exception:
            traceback.print_exc()
            return 2
        cpu_us.append((time.process_time_ns() - cpu) // 1000)
        wall_us.append((time.perf_counter_ns() - wall) // 1000)
        shutil.rmtree(sample)
    json.dump(
        {
            "client": "python-tuf ngclient",
            "tuf_version": tuf.__version__,
            "python_version": platform.python_version(),
            "samples": args.samples,
            "verified_sha256": sha256,
            "cpu_us": cpu_us,
            "wall_us": wall_us,
            "cpu_us_summary": summary(cpu_us),
            "wall_us_summary": summary(wall_us),
        },
        sys.stdout,
        indent=2,
    )
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
