"""Evidence that a test happened as recorded: content-addressed files and a hash-chained log.

Every screenshot, page and e-mail is stored once, under its own sha256, in `config.evidence_dir`.
Each put also appends a line to `log.jsonl`; every line carries the sha256 of the line before it,
so editing, inserting or removing a line breaks the chain from there on. The `evidence` table
mirrors the files for queries. `verify()` re-hashes everything and names what no longer matches,
so an agency cannot credibly claim a screenshot was altered after the fact.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

from shopper.clock import get_clock, to_iso
from shopper.errors import ShopperError

GENESIS = "0" * 64
LOG_NAME = "log.jsonl"
KINDS = ("screenshot", "html", "eml", "reference", "text", "file")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class EvidenceStore:
    """`root/<aa>/<sha256>` files, `root/log.jsonl`, and rows in the `evidence` table."""

    _locks: dict[str, threading.Lock] = {}

    def __init__(self, root: str | Path, db=None):
        self.root = Path(root).expanduser()
        self.db = db
        self.root.mkdir(parents=True, exist_ok=True)
        self.log_path = self.root / LOG_NAME
        # One lock per store folder: several stores on one folder must not interleave lines.
        self._lock = self._locks.setdefault(str(self.root.resolve()), threading.Lock())

    def path(self, digest: str) -> Path:
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ShopperError(f"{digest!r} is not a sha256; evidence is named by its 64 hex digits")
        return self.root / digest[:2] / digest

    def read(self, digest: str) -> bytes:
        path = self.path(digest)
        if not path.exists():
            raise ShopperError(f"no evidence {digest} in {self.root}")
        return path.read_bytes()

    def _last_line_hash(self) -> str:
        if not self.log_path.exists():
            return GENESIS
        with self.log_path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 65536))
            tail = fh.read().rstrip(b"\n").split(b"\n")[-1] if size else b""
        return sha256(tail) if tail else GENESIS

    def put(self, data: bytes, kind: str, test_id: str | None = None, note: str | None = None) -> str:
        """Store `data` (once per content), log it, and return its sha256."""
        if kind not in KINDS:
            raise ValueError(f"unknown evidence kind {kind!r}; use one of {KINDS}")
        digest = sha256(data)
        path = self.path(digest)
        at = to_iso(get_clock().now())
        with self._lock:
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                with tmp.open("wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.chmod(tmp, 0o444)
                os.replace(tmp, path)
            entry = {
                "at": at,
                "sha256": digest,
                "size": len(data),
                "kind": kind,
                "test_id": test_id,
                "note": note,
                "prev": self._last_line_hash(),
            }
            line = json.dumps(entry, ensure_ascii=False, sort_keys=True).encode("utf-8")
            with self.log_path.open("ab") as fh:
                fh.write(line + b"\n")
                fh.flush()
                os.fsync(fh.fileno())
            if self.db is not None:
                self.db["evidence"].insert(
                    {
                        "sha256": digest,
                        "path": str(path.relative_to(self.root)),
                        "kind": kind,
                        "created_at": at,
                        "test_id": test_id,
                        "size": len(data),
                        "note": note,
                    },
                    pk="sha256",
                    ignore=True,
                )
        return digest

    def entries(self) -> list[dict]:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_bytes().splitlines() if line.strip()]

    def for_test(self, test_id: str) -> list[dict]:
        return [e for e in self.entries() if e.get("test_id") == test_id]

    def verify(self) -> list[str]:
        """Every problem found, one sentence each; an empty list means all evidence is intact."""
        problems: list[str] = []
        logged: set[str] = set()
        prev = GENESIS
        lines = self.log_path.read_bytes().split(b"\n") if self.log_path.exists() else []
        if lines and lines[-1] == b"":
            lines.pop()
        elif lines:
            problems.append(f"{self.log_path}: the last line is not terminated (cut off or edited)")
        for number, raw in enumerate(lines, 1):
            try:
                entry = json.loads(raw)
            except ValueError:
                problems.append(f"{self.log_path}:{number}: not a log entry (edited)")
                prev = sha256(raw)
                continue
            if entry.get("prev") != prev:
                problems.append(
                    f"{self.log_path}:{number}: hash chain broken (a line before it was edited, inserted or removed)"
                )
            prev = sha256(raw)
            digest = entry.get("sha256", "")
            logged.add(digest)
            try:
                path = self.path(digest)
            except ShopperError:
                problems.append(f"{self.log_path}:{number}: names no valid sha256 (edited)")
                continue
            if not path.exists():
                problems.append(f"{digest}: file missing (logged at line {number})")
            elif sha256(path.read_bytes()) != digest:
                problems.append(f"{digest}: file changed since it was stored (logged at line {number})")
        if self.db is not None and self.db["evidence"].exists():
            for row in self.db.query("select sha256 from evidence"):
                if row["sha256"] not in logged:
                    problems.append(f"{row['sha256']}: in the database but not in the log (log lines removed)")
        for path in self.root.glob("??/*"):
            if path.suffix != ".tmp" and path.name not in logged:
                problems.append(f"{path.name}: a file the log does not know (added outside shopper)")
        return sorted(set(problems), key=problems.index)
