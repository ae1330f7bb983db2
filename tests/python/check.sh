#!/usr/bin/env bash
# End-to-end check of the Python side of the TUF interoperability tests:
# set up the venv, generate fresh repositories, serve them on loopback and run
# check_python_client.py against them. Extra arguments go to
# check_python_client.py, e.g. --client 'path/to/rust-client' to check another
# client that speaks the same protocol.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
"$repo/scripts/python-env"
python=${BULWARK_VENV:-$repo/target/venv}/bin/python

work=$(mktemp -d "${TMPDIR:-/tmp}/bulwark-tuf-interop.XXXXXX")
server=
cleanup() {
    if [[ -n $server ]]; then kill "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

"$python" "$here/make_repos.py" "$work/repos"

"$python" "$here/serve.py" "$work/repos" >"$work/url" &
server=$!
for _ in $(seq 100); do
    [[ -s $work/url ]] && break
    kill -0 "$server" 2>/dev/null || { echo "check.sh: serve.py exited" >&2; exit 1; }
    sleep 0.1
done
base_url=$(head -n1 "$work/url")
[[ -n $base_url ]] || { echo "check.sh: serve.py printed no URL" >&2; exit 1; }

"$python" "$here/check_python_client.py" "$work/repos" "$base_url" "$@"
