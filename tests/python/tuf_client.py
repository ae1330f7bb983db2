#!/usr/bin/env python3
"""python-tuf peer of the client interoperability tests.

It implements the command-line protocol that our Rust client implements too,
so that a test can run either one with identical arguments:

  tuf_client.py --metadata-dir DIR init TRUSTED_ROOT_FILE
      Trust TRUSTED_ROOT_FILE as the client's root; no network.
  tuf_client.py --metadata-dir DIR --metadata-url URL refresh
      Update the top-level metadata (TUF client workflow, spec section 5).
  tuf_client.py --metadata-dir DIR --metadata-url URL --target-name PATH
          [--target-name PATH ...] --target-base-url URL --target-dir DIR download
      Refresh, then look up and download each target in order, stopping at
      the first failure; target PATH is stored as TARGET_DIR/quote(PATH, "").

Options go before the command, in any order. Exit status: 0 on success, 1 when
the operation fails (metadata or target refused, target not found, download
or file error), with one line on stderr saying why; 2 for a usage error or a
bug in this script, so that a test expecting a refusal cannot pass because of
a broken invocation.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path
from urllib.parse import quote

from tuf.api import exceptions
from tuf.api.metadata import Metadata, Root
from tuf.ngclient import Updater

# The file python-tuf itself reads its current trusted root from.
ROOT_FILE = "root.json"


class ClientError(Exception):
    """A failure the protocol reports with exit status 1."""


def init(args: argparse.Namespace) -> None:
    data = Path(args.trusted_root).read_bytes()
    root = Metadata.from_bytes(data)
    if not isinstance(root.signed, Root):
        raise ClientError(f"{args.trusted_root} is {root.signed.type} metadata, not root")
    # python-tuf checks the same when it loads this root later; checking here
    # makes a bad root fail at init, where the mistake is.
    root.signed.verify_delegate(Root.type, root.signed_bytes, root.signatures)
    os.makedirs(args.metadata_dir, exist_ok=True)
    root_file = Path(args.metadata_dir, ROOT_FILE)
    # After a refresh, root.json is python-tuf's link into root_history/;
    # writing through it would overwrite a verified root.
    root_file.unlink(missing_ok=True)
    root_file.write_bytes(data)


def updater(args: argparse.Namespace) -> Updater:
    # python-tuf 7 requires the root to start from as bytes ("bootstrap").
    # The metadata directory is this client's trust state, as it is for the
    # Rust client, so that root is the newest one it has verified: the one
    # from init, or the one a later refresh updated root.json to.
    bootstrap = Path(args.metadata_dir, ROOT_FILE).read_bytes()
    return Updater(
        metadata_dir=args.metadata_dir,
        metadata_base_url=args.metadata_url,
        target_dir=args.target_dir,
        target_base_url=args.target_base_url,
        bootstrap=bootstrap,
    )


def refresh(args: argparse.Namespace) -> None:
    updater(args).refresh()


def download(args: argparse.Namespace) -> None:
    client = updater(args)
    client.refresh()
    for target in args.target_names:
        info = client.get_targetinfo(target)
        if info is None:
            raise ClientError(f"{target}: no such target")
        # Named explicitly rather than left to python-tuf's default (which
        # happens to be the same), because the file name is part of the protocol.
        client.download_target(info, filepath=os.path.join(args.target_dir, quote(target, "")))


# Options each command needs, with their argparse destinations.
REQUIRED = {
    "init": [],
    "refresh": [("--metadata-url", "metadata_url")],
    "download": [
        ("--metadata-url", "metadata_url"),
        ("--target-name", "target_names"),
        ("--target-base-url", "target_base_url"),
        ("--target-dir", "target_dir"),
    ],
}


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        self.exit(2, f"usage error: {message}\n")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = Parser(description="python-tuf client for interoperability tests")
    parser.add_argument("--metadata-dir", required=True)
    parser.add_argument("--metadata-url")
    parser.add_argument("--target-name", dest="target_names", action="append", default=[])
    parser.add_argument("--target-base-url")
    parser.add_argument("--target-dir")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    commands.add_parser("init").add_argument("trusted_root", metavar="TRUSTED_ROOT_FILE")
    commands.add_parser("refresh")
    commands.add_parser("download")
    args = parser.parse_args(argv)

    missing = [option for option, dest in REQUIRED[args.command] if not getattr(args, dest)]
    if missing:
        parser.error(f"{args.command} needs {', '.join(missing)}")
    return args


def describe(error: BaseException) -> str:
    """One line naming the error and its causes: python-tuf wraps network
    errors in a DownloadError whose own message is only the URL."""
    parts = []
    while error is not None:
        message = " ".join(str(error).split())
        parts.append(f"{type(error).__name__}: {message}" if message else type(error).__name__)
        error = error.__cause__
    return " <- ".join(parts)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    command = {"init": init, "refresh": refresh, "download": download}[args.command]
    try:
        command(args)
    except (ClientError, exceptions.RepositoryError, exceptions.DownloadError, OSError) as e:
        print(f"{args.command} failed: {describe(e)}", file=sys.stderr)
        return 1
    except Exception:
        traceback.print_exc()
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
