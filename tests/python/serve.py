#!/usr/bin/env python3
"""Serve a directory of generated repositories over HTTP on loopback.

Usage: serve.py DIR

Binds 127.0.0.1 on a free port, prints its base URL (http://127.0.0.1:PORT) as
the only line on stdout, then serves until killed.

Why not ``python -m http.server``: TUF clients put delegated role names in
URLs percent-encoded with quote(name, ""), and make_repos.py stores the files
under exactly that encoded name ("1.a%20role%2Fwith%3Fchars.json"). http.server
decodes the whole URL path first, so "%2F" turns into a directory separator and
the file is never found. This server decodes each path segment on its own and
re-encodes it the same way, which finds those files for any equivalent
encoding a client may send, and serves every other file unchanged.
"""

from __future__ import annotations

import functools
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote


class RepositoryHandler(SimpleHTTPRequestHandler):
    def translate_path(self, path: str) -> str:
        path = path.split("?", 1)[0].split("#", 1)[0]
        segments = [quote(unquote(segment), safe="") for segment in path.split("/")]
        # Empty, "." and ".." segments are dropped, as http.server does, so
        # that nothing outside the served directory is reachable.
        kept = [segment for segment in segments if segment not in ("", ".", "..")]
        return str(Path(self.directory, *kept))

    def log_message(self, format: str, *args: object) -> None:
        # Test output stays readable; failures show up in the clients' errors.
        pass


def main() -> int:
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} DIR", file=sys.stderr)
        return 2
    handler = functools.partial(RepositoryHandler, directory=sys.argv[1])
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        print(f"http://127.0.0.1:{server.server_port}", flush=True)
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
