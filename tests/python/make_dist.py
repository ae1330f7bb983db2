#!/usr/bin/env python3
"""Write a small pure-Python wheel and sdist for end-to-end tests.

    make_dist.py OUT_DIR NAME VERSION [--requires REQ ...] [--requires-python SPEC]
                 [--description FILE [--description-content-type TYPE]]

The wheel is built by hand (it is just a zip with METADATA, WHEEL and RECORD)
so that tests need no build backend and no network. The package's module,
<name>.py, defines VERSION = "<version>".
"""

import argparse
import base64
import hashlib
import io
import os
import re
import sys
import tarfile
import zipfile


def escaped(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def metadata(name: str, version: str, requires: list, requires_python: str,
             description: str = "", content_type: str = "") -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", f"Summary: test package {name}"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    if content_type:
        lines.append(f"Description-Content-Type: {content_type}")
    lines += [f"Requires-Dist: {r}" for r in requires]
    # The description is the body after the headers (core metadata 2.1).
    return "\n".join(lines) + "\n\n" + description


def record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def write_wheel(out: str, name: str, version: str, meta: str) -> str:
    module = escaped(name)
    dist_info = f"{module}-{version}.dist-info"
    files = {
        f"{module}.py": f'VERSION = "{version}"\n'.encode(),
        f"{dist_info}/METADATA": meta.encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: bulwark-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "\n".join(record_line(p, d) for p, d in files.items()) + f"\n{dist_info}/RECORD,,\n"
    files[f"{dist_info}/RECORD"] = record.encode()
    path = os.path.join(out, f"{module}-{version}-py3-none-any.whl")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for p, d in files.items():
            z.writestr(zipfile.ZipInfo(p, date_time=(2020, 1, 1, 0, 0, 0)), d)
    return path


def write_sdist(out: str, name: str, version: str, meta: str) -> str:
    base = f"{escaped(name)}-{version}"
    files = {
        f"{base}/PKG-INFO": meta.encode(),
        f"{base}/{escaped(name)}.py": f'VERSION = "{version}"\n'.encode(),
    }
    path = os.path.join(out, f"{base}.tar.gz")
    with tarfile.open(path, "w:gz") as t:
        for p, d in files.items():
            info = tarfile.TarInfo(p)
            info.size = len(d)
            info.mtime = 1577836800
            t.addfile(info, io.BytesIO(d))
    return path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("name")
    parser.add_argument("version")
    parser.add_argument("--requires", action="append", default=[])
    parser.add_argument("--requires-python", default="")
    parser.add_argument("--description", help="a file whose text is the description")
    parser.add_argument("--description-content-type", default="")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    description = ""
    if args.description:
        with open(args.description, encoding="utf-8") as f:
            description = f.read()
    meta = metadata(args.name, args.version, args.requires, args.requires_python,
                    description, args.description_content_type)
    print(write_wheel(args.out, args.name, args.version, meta))
    print(write_sdist(args.out, args.name, args.version, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
