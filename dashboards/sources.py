"""Digests of source files: what a published page or release was rendered by."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable
from pathlib import Path


def source_digest(folders: Iterable[Path], suffixes: Collection[str], root: Path) -> str:
    """A digest of every file under `folders` whose suffix is one of `suffixes`, each with its
    path relative to `root`: a file added, removed, renamed or edited changes it."""
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.suffix in suffixes and path.is_file():
                digest.update(str(path.relative_to(root)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()
