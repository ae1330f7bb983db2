#!/usr/bin/env python3
"""Verify a Bulwark index with python-tuf, as an independent TUF client would.

    verify_index.py ROOT_JSON BASE_URL PROJECT FILENAME...

Refreshes the TUF metadata from BASE_URL/tuf/metadata/ trusting ROOT_JSON,
downloads and verifies the signed page simple/<PROJECT>/index.json from
BASE_URL/tuf/targets/, finds each FILENAME in it, downloads the file through
the page's relative URL and checks its size and sha256 against the verified
page. Prints each verified file entry as JSON; exits 1 on any failure.

With VERIFY_METADATA_DIR set, the trusted metadata lives there across runs
(ROOT_JSON is trusted only when it holds none yet), as a long-lived client's
would: the next refresh starts from the root, timestamp and snapshot it
trusted last, and python-tuf refuses any rollback from them.
"""

import contextlib
import hashlib
import json
import os
import sys
import tempfile
import urllib.request
from urllib.parse import urljoin

from tuf.ngclient import Updater


def main() -> int:
    root_path, base, project, *filenames = sys.argv[1:]
    if not filenames:
        print("usage: verify_index.py ROOT_JSON BASE_URL PROJECT FILENAME...", file=sys.stderr)
        return 1
    base = base.rstrip("/") + "/"
    kept = os.environ.get("VERIFY_METADATA_DIR")
    if kept and os.path.exists(os.path.join(kept, "root.json")):
        root = None
    else:
        with open(root_path, "rb") as f:
            root = f.read()
    meta_dir = contextlib.nullcontext(kept) if kept else tempfile.TemporaryDirectory()
    with meta_dir as meta, tempfile.TemporaryDirectory() as targets:
        os.makedirs(meta, exist_ok=True)
        updater = Updater(meta, base + "tuf/metadata/", targets, base + "tuf/targets/", bootstrap=root)
        updater.refresh()
        target_path = f"simple/{project}/index.json"
        info = updater.get_targetinfo(target_path)
        if info is None:
            print(f"{target_path} is not in the signed metadata", file=sys.stderr)
            return 1
        page_file = updater.download_target(info)
        with open(page_file, "rb") as f:
            page = json.load(f)
    for filename in filenames:
        entry = next((e for e in page["files"] if e["filename"] == filename), None)
        if entry is None:
            print(f"{filename} is not on the verified page", file=sys.stderr)
            return 1
        url = urljoin(base + f"simple/{project}/", entry["url"])
        with urllib.request.urlopen(url) as response:
            data = response.read()
        if len(data) != entry["size"] or hashlib.sha256(data).hexdigest() != entry["hashes"]["sha256"]:
            print(f"{url} does not match the verified page", file=sys.stderr)
            return 1
        print(json.dumps(entry, sort_keys=True))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # one clear line, exit 1
        print(f"python-tuf refused: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
