#!/usr/bin/env python3
"""Generate the TUF repositories of the client interoperability tests.

Usage: make_repos.py OUT_DIR

Every repository is built with python-tuf's Metadata API and written as

    OUT_DIR/<name>/metadata/       N.root.json for every root version, timestamp.json,
                                   V.snapshot.json, V.targets.json, V.<role>.json
                                   (plain <role>.json without consistent snapshots;
                                   role names percent-encoded with quote(name, ""))
    OUT_DIR/<name>/targets/        target files, stored as dir/<hash>.name under each
                                   of their hashes with consistent snapshots
    OUT_DIR/<name>/initial_root.json   the root a client is initialised with (1.root.json)
    OUT_DIR/<name>/expect.json     what a correct TUF 1.0.34 client does with it:
                                   {"description", "refresh_ok",
                                    "targets": {path: {"ok", "sha256" (when ok)}}}

Keys are generated on every run and never written anywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

from securesystemslib.signer import CryptoSigner, Signer
from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    MetaFile,
    Root,
    Signed,
    Snapshot,
    SuccinctRoles,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

NOW = datetime.now(timezone.utc)
VALID_UNTIL = NOW + timedelta(days=30)
EXPIRED_AT = NOW - timedelta(days=1)
# sha256 comes first: python-tuf builds the hash-prefixed download URL from the
# first listed hash, other clients may pick either, so both copies are served.
TARGET_HASHES = ["sha256", "sha512"]


def ed25519() -> Signer:
    return CryptoSigner.generate_ed25519()


def ecdsa() -> Signer:
    # keytype "ecdsa", scheme "ecdsa-sha2-nistp256"
    return CryptoSigner.generate_ecdsa()


def rsa(bits: int = 2048) -> Signer:
    # keytype "rsa", scheme "rsassa-pss-sha256"
    return CryptoSigner.generate_rsa(size=bits)


def sign(signed: Signed, signers: list[Signer]) -> bytes:
    metadata = Metadata(signed)
    for signer in signers:
        metadata.sign(signer, append=True)
    # Indented rather than canonical: signatures cover the canonical form of
    # "signed" only, and a client must not depend on how the file is laid out.
    return metadata.to_bytes(JSONSerializer(compact=False))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class TargetBlob:
    """A signed target entry and the bytes the server returns for it."""

    info: TargetFile
    served: bytes


class Repository:
    """A repository being built, plus what a correct client must make of it.

    Roles sign with the signers recorded in ``self.signers``, which are
    normally the keys they were given; a test replaces them to break a role.
    """

    def __init__(
        self,
        name: str,
        description: str,
        *,
        consistent_snapshot: bool = True,
        meta_hashes: bool = True,
    ) -> None:
        self.name = name
        self.description = description
        # Whether snapshot and timestamp describe metadata by length and hashes
        # as well as by version (the spec makes them optional).
        self.meta_hashes = meta_hashes
        self.root = Root(expires=VALID_UNTIL, consistent_snapshot=consistent_snapshot)
        self.root_versions: list[bytes] = []
        self.signers: dict[str, list[Signer]] = {}
        self.roles: dict[str, Targets] = {Targets.type: Targets(expires=VALID_UNTIL)}
        self.blobs: list[TargetBlob] = []
        self.timestamp_expires = VALID_UNTIL
        self.corrupt_snapshot_hash = False
        self.refresh_ok = True
        self.expected: dict[str, dict] = {}

    # -- keys and root --------------------------------------------------------

    def set_keys(self, role: str, signers: list[Signer], threshold: int = 1) -> None:
        """Make ``signers`` the keys of top-level ``role``, replacing earlier ones."""
        for keyid in list(self.root.roles[role].keyids):
            self.root.revoke_key(keyid, role)
        for signer in signers:
            self.root.add_key(signer.public_key, role)
        self.root.roles[role].threshold = threshold
        self.signers[role] = signers

    def publish_root(self, signers: list[Signer] | None = None) -> None:
        """Sign the current root as the next root version.

        A rotation must be signed by a threshold of the previous root's keys
        as well as of its own, so rotations pass both sets in ``signers``.
        """
        self.root.version = len(self.root_versions) + 1
        self.root_versions.append(sign(self.root, signers or self.signers[Root.type]))

    # -- targets and delegations ------------------------------------------------

    def add_target(
        self, path: str, content: bytes, role: str = Targets.type, *, served: bytes | None = None
    ) -> None:
        """List ``content`` as target ``path`` of ``role``; serve ``served`` if given."""
        info = TargetFile.from_data(path, content, TARGET_HASHES)
        self.roles[role].targets[path] = info
        self.blobs.append(TargetBlob(info, content if served is None else served))

    def delegate(
        self,
        parent: str,
        name: str,
        signers: list[Signer],
        *,
        threshold: int = 1,
        paths: list[str] | None = None,
        path_hash_prefixes: list[str] | None = None,
        terminating: bool = False,
    ) -> None:
        delegator = self.roles[parent]
        if delegator.delegations is None:
            delegator.delegations = Delegations(keys={}, roles={})
        delegator.delegations.roles[name] = DelegatedRole(
            name, [], threshold, terminating, paths, path_hash_prefixes
        )
        for signer in signers:
            delegator.add_key(signer.public_key, name)
        self.roles[name] = Targets(expires=VALID_UNTIL)
        self.signers[name] = signers

    def delegate_succinct(
        self, parent: str, signers: list[Signer], bit_length: int, name_prefix: str
    ) -> SuccinctRoles:
        """Delegate everything to hash bins (TAP 15), all signed by ``signers``."""
        bins = SuccinctRoles([], 1, bit_length, name_prefix)
        delegator = self.roles[parent]
        delegator.delegations = Delegations(keys={}, succinct_roles=bins)
        for signer in signers:
            delegator.add_key(signer.public_key)
        for name in bins.get_roles():
            self.roles[name] = Targets(expires=VALID_UNTIL)
            self.signers[name] = signers
        return bins

    # -- expectations -------------------------------------------------------------

    def expect(self, path: str, content: bytes | None) -> None:
        """A correct client downloads ``path`` as ``content``, or fails on None."""
        if content is None:
            self.expected[path] = {"ok": False}
        else:
            self.expected[path] = {"ok": True, "sha256": sha256(content)}

    def expect_refresh_failure(self, *paths: str) -> None:
        """Refresh fails, and with it every download."""
        self.refresh_ok = False
        for path in paths:
            self.expect(path, None)

    # -- output ---------------------------------------------------------------------

    def _metadata_name(self, role: str, version: int) -> str:
        name = f"{quote(role, '')}.json"
        return f"{version}.{name}" if self.root.consistent_snapshot else name

    def _meta_file(self, version: int, data: bytes) -> MetaFile:
        if self.meta_hashes:
            return MetaFile.from_data(version, data, ["sha256"])
        return MetaFile(version)

    def write(self, out_dir: Path) -> None:
        base = out_dir / self.name
        metadata_dir = base / "metadata"
        targets_dir = base / "targets"
        metadata_dir.mkdir(parents=True)
        targets_dir.mkdir()

        for version, data in enumerate(self.root_versions, start=1):
            (metadata_dir / f"{version}.root.json").write_bytes(data)
        (base / "initial_root.json").write_bytes(self.root_versions[0])

        snapshot = Snapshot(expires=VALID_UNTIL, meta={})
        for role, targets in self.roles.items():
            data = sign(targets, self.signers[role])
            (metadata_dir / self._metadata_name(role, targets.version)).write_bytes(data)
            snapshot.meta[f"{role}.json"] = self._meta_file(targets.version, data)

        snapshot_data = sign(snapshot, self.signers[Snapshot.type])
        (metadata_dir / self._metadata_name(Snapshot.type, snapshot.version)).write_bytes(
            snapshot_data
        )
        snapshot_meta = self._meta_file(snapshot.version, snapshot_data)
        if self.corrupt_snapshot_hash:
            snapshot_meta.hashes = {"sha256": sha256(b"not the served snapshot")}
        timestamp = Timestamp(expires=self.timestamp_expires, snapshot_meta=snapshot_meta)
        (metadata_dir / "timestamp.json").write_bytes(sign(timestamp, self.signers[Timestamp.type]))

        for blob in self.blobs:
            if self.root.consistent_snapshot:
                relative_paths = blob.info.get_prefixed_paths()
            else:
                relative_paths = [blob.info.path]
            for relative in relative_paths:
                path = targets_dir / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(blob.served)

        expect = {
            "description": self.description,
            "refresh_ok": self.refresh_ok,
            "targets": self.expected,
        }
        (base / "expect.json").write_text(json.dumps(expect, indent=2, sort_keys=True) + "\n")


def add_sample_targets(repo: Repository) -> None:
    """Two targets, one in a subdirectory, and a path that is not a target."""
    hello = f"hello from {repo.name}\n".encode()
    data = os.urandom(4096)
    repo.add_target("hello.txt", hello)
    repo.add_target("dir/sub/data.bin", data)
    repo.expect("hello.txt", hello)
    repo.expect("dir/sub/data.bin", data)
    repo.expect("no/such/target.txt", None)


def single_keys(repo: Repository) -> None:
    """Give every top-level role one fresh ed25519 key, threshold 1."""
    for role in (Root.type, Timestamp.type, Snapshot.type, Targets.type):
        repo.set_keys(role, [ed25519()])


def simple(name: str, description: str) -> Repository:
    """A repository with single keys and one root version, no targets yet."""
    repo = Repository(name, description)
    single_keys(repo)
    repo.publish_root()
    return repo


def basic(name: str, new_key, keytype: str) -> Repository:
    repo = Repository(
        name,
        f"every top-level role signed with {keytype} keys; root 2 of 3 keys, "
        "1.root.json carrying exactly two signatures",
    )
    root_keys = [new_key() for _ in range(3)]
    repo.set_keys(Root.type, root_keys, threshold=2)
    for role in (Timestamp.type, Snapshot.type, Targets.type):
        repo.set_keys(role, [new_key()])
    # Exactly the threshold: a client that wants every listed key would fail.
    repo.publish_root(root_keys[:2])
    add_sample_targets(repo)
    return repo


def mixed_keys() -> Repository:
    repo = Repository(
        "mixed-keys",
        "root keys ed25519 + ecdsa + rsa-4096 (2 of 3), timestamp ecdsa, snapshot rsa, "
        "targets ed25519, a delegated role needing 2 of {ecdsa, rsa}",
    )
    repo.set_keys(Root.type, [ed25519(), ecdsa(), rsa(4096)], threshold=2)
    repo.set_keys(Timestamp.type, [ecdsa()])
    repo.set_keys(Snapshot.type, [rsa()])
    repo.set_keys(Targets.type, [ed25519()])
    repo.publish_root()
    add_sample_targets(repo)
    repo.delegate(Targets.type, "mixed", [ecdsa(), rsa()], threshold=2, paths=["mixed/*"])
    content = b"signed by two key types\n"
    repo.add_target("mixed/file.txt", content, "mixed")
    repo.expect("mixed/file.txt", content)
    return repo


def root_rotation() -> Repository:
    repo = Repository(
        "root-rotation",
        "root v1 -> v2 (root key R1 replaced by R4, new timestamp key) -> v3 "
        "(root keys {R4, R5}, new snapshot key); each rotation carries exactly "
        "the threshold of old and of new root signatures",
    )
    r1, r2, r3, r4, r5 = (ed25519() for _ in range(5))
    repo.set_keys(Root.type, [r1, r2, r3], threshold=2)
    for role in (Timestamp.type, Snapshot.type, Targets.type):
        repo.set_keys(role, [ed25519()])
    repo.publish_root()

    repo.set_keys(Root.type, [r2, r3, r4], threshold=2)
    repo.set_keys(Timestamp.type, [ecdsa()])
    repo.publish_root([r1, r2, r4])  # old {r1, r2}, new {r2, r4}

    repo.set_keys(Root.type, [r4, r5], threshold=2)
    repo.set_keys(Snapshot.type, [ecdsa()])
    repo.publish_root([r3, r4, r5])  # old {r3, r4}, new {r4, r5}

    add_sample_targets(repo)
    return repo


def expired_intermediate_root() -> Repository:
    repo = Repository(
        "expired-intermediate-root",
        "1.root.json (the trusted root) has expired but 2.root.json is current: "
        "only the final root's expiry counts (spec 5.3.10), so refresh succeeds",
    )
    single_keys(repo)
    repo.root.expires = EXPIRED_AT
    repo.publish_root()
    repo.root.expires = VALID_UNTIL
    repo.publish_root()
    add_sample_targets(repo)
    return repo


def succinct_bins() -> Repository:
    repo = simple(
        "succinct-bins",
        "targets delegates to 16 succinct hash bins (TAP 15, bit_length 4, prefix 'bin') "
        "signed by one online key; 20 targets spread over the bins",
    )
    bins = repo.delegate_succinct(Targets.type, [ed25519()], bit_length=4, name_prefix="bin")
    used_bins = set()
    for i in range(20):
        path = f"packages/pkg-{i:02d}.tar.gz"
        content = f"package {i}\n".encode() * (i + 1)
        role = bins.get_role_for_target(path)
        used_bins.add(role)
        repo.add_target(path, content, role)
        repo.expect(path, content)
    assert len(used_bins) >= 8, f"targets landed in only {len(used_bins)} bins"
    # Its bin exists and is searched, but does not list it.
    repo.expect("packages/absent.tar.gz", None)
    return repo


def delegations() -> Repository:
    repo = simple(
        "delegations",
        "targets -> A ['a/*'] -> A1 ['a/deep-*']; B by path_hash_prefixes; "
        "'a role/with?chars' ['a/*', 'esc/*'] after A (A wins a/one.txt); "
        "'terminating' ['t/*'] stops the search before 'after-terminating'",
    )

    top = b"top-level target\n"
    repo.add_target("top.txt", top)
    repo.expect("top.txt", top)

    repo.delegate(Targets.type, "A", [ed25519()], paths=["a/*"])
    from_a = b"a/one.txt as listed by A\n"
    repo.add_target("a/one.txt", from_a, "A")
    repo.expect("a/one.txt", from_a)
    # Reachable only through the nested delegation: A itself does not list it.
    repo.delegate("A", "A1", [ecdsa()], paths=["a/deep-*"])
    deep = b"only A1 lists this\n"
    repo.add_target("a/deep-only.txt", deep, "A1")
    repo.expect("a/deep-only.txt", deep)

    hashed, outside = "b/hashed.txt", "b/outside.txt"
    prefix = sha256(hashed.encode())[:2]
    assert not sha256(outside.encode()).startswith(prefix)
    repo.delegate(Targets.type, "B", [ed25519()], path_hash_prefixes=[prefix])
    hashed_content = b"found through a path hash prefix\n"
    repo.add_target(hashed, hashed_content, "B")
    repo.expect(hashed, hashed_content)
    # B lists it, but B is not trusted for it: its path hash has another prefix.
    repo.add_target(outside, b"B may not sign this\n", "B")
    repo.expect(outside, None)

    escaped = "a role/with?chars"
    repo.delegate(Targets.type, escaped, [ed25519()], paths=["a/*", "esc/*"])
    escaped_content = b"from a role whose name needs percent-encoding\n"
    repo.add_target("esc/file.txt", escaped_content, escaped)
    repo.expect("esc/file.txt", escaped_content)
    # Also listed by A, which comes first in the delegation order and wins.
    repo.add_target("a/one.txt", b"a/one.txt as listed by the later role\n", escaped)

    repo.delegate(Targets.type, "terminating", [ed25519()], paths=["t/*"], terminating=True)
    term = b"from the terminating role\n"
    repo.add_target("t/term.txt", term, "terminating")
    repo.expect("t/term.txt", term)
    repo.delegate(Targets.type, "after-terminating", [ed25519()], paths=["t/*"])
    repo.add_target("t/after.txt", b"never reached\n", "after-terminating")
    repo.expect("t/after.txt", None)
    return repo


def no_consistent_snapshot() -> Repository:
    repo = Repository(
        "no-consistent-snapshot",
        "consistent_snapshot false: snapshot.json, targets.json, plain.json and "
        "un-prefixed target files; snapshot and timestamp list versions only; root v1 -> v2",
        consistent_snapshot=False,
        meta_hashes=False,
    )
    single_keys(repo)
    # Root files stay versioned (N.root.json) even without consistent snapshots.
    repo.publish_root()
    repo.publish_root()
    add_sample_targets(repo)
    repo.delegate(Targets.type, "plain", [ed25519()], paths=["p/*"])
    plain = b"from a delegated role without consistent snapshots\n"
    repo.add_target("p/file.txt", plain, "plain")
    repo.expect("p/file.txt", plain)
    return repo


def bad_target_hash() -> Repository:
    repo = simple(
        "bad-target-hash",
        "tampered.txt is served with different content of the signed length",
    )
    good = b"served as signed\n"
    repo.add_target("good.txt", good)
    repo.expect("good.txt", good)
    signed = b"the content that was signed\n"
    served = b"THE CONTENT THAT WAS SIGNED\n"
    repo.add_target("tampered.txt", signed, served=served)
    repo.expect("tampered.txt", None)
    return repo


def expired_timestamp() -> Repository:
    repo = simple("expired-timestamp", "timestamp.json expired a day ago")
    repo.timestamp_expires = EXPIRED_AT
    repo.add_target("hello.txt", b"hello\n")
    repo.expect_refresh_failure("hello.txt")
    return repo


def below_threshold_root() -> Repository:
    repo = Repository(
        "below-threshold-root",
        "2.root.json is signed by its own keys but by only one of the two old root "
        "keys required by 1.root.json",
    )
    r1, r2, r3, r4, r5 = (ed25519() for _ in range(5))
    repo.set_keys(Root.type, [r1, r2, r3], threshold=2)
    for role in (Timestamp.type, Snapshot.type, Targets.type):
        repo.set_keys(role, [ed25519()])
    repo.publish_root()
    repo.set_keys(Root.type, [r1, r4, r5], threshold=2)
    repo.publish_root([r1, r4, r5])  # old keys: r1 only
    repo.add_target("hello.txt", b"hello\n")
    repo.expect_refresh_failure("hello.txt")
    return repo


def snapshot_hash_mismatch() -> Repository:
    repo = simple(
        "snapshot-hash-mismatch",
        "timestamp.json gives a sha256 for the snapshot that the served snapshot does not have",
    )
    repo.corrupt_snapshot_hash = True
    repo.add_target("hello.txt", b"hello\n")
    repo.expect_refresh_failure("hello.txt")
    return repo


def delegated_bad_signature() -> Repository:
    repo = simple(
        "delegated-bad-signature",
        "role 'wrong-key' (paths ['w/*']) is signed by a key it was not delegated",
    )
    top = b"top-level target\n"
    repo.add_target("top.txt", top)
    repo.expect("top.txt", top)
    repo.delegate(Targets.type, "wrong-key", [ed25519()], paths=["w/*"])
    repo.signers["wrong-key"] = [ed25519()]
    repo.add_target("w/file.txt", b"signed by the wrong key\n", "wrong-key")
    repo.expect("w/file.txt", None)
    return repo


def all_repositories() -> list[Repository]:
    return [
        basic("ed25519-basic", ed25519, "ed25519"),
        basic("ecdsa-basic", ecdsa, "ecdsa-sha2-nistp256"),
        # 3072 bits here, 2048 and 4096 in mixed-keys.
        basic("rsa-basic", lambda: rsa(3072), "rsassa-pss-sha256 (3072-bit)"),
        mixed_keys(),
        root_rotation(),
        expired_intermediate_root(),
        succinct_bins(),
        delegations(),
        no_consistent_snapshot(),
        bad_target_hash(),
        expired_timestamp(),
        below_threshold_root(),
        snapshot_hash_mismatch(),
        delegated_bad_signature(),
    ]


def main() -> int:
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} OUT_DIR", file=sys.stderr)
        return 2
    out_dir = Path(sys.argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    for repo in all_repositories():
        # Regenerating into the same directory must not mix old and new keys.
        shutil.rmtree(out_dir / repo.name, ignore_errors=True)
        repo.write(out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
