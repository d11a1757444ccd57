"""Atomic placement: readers see the old file or the whole new one, and no temporary is left."""

from __future__ import annotations

import os
from pathlib import Path

from lxm3.files import atomic_write, place_atomically


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "cache.json"
    atomic_write(target, "one")
    atomic_write(target, b"two")
    assert target.read_text() == "two"
    assert os.listdir(target.parent) == ["cache.json"]


def test_place_atomically_links_copies_or_moves(tmp_path: Path) -> None:
    source = tmp_path / "a.zip"
    source.write_text("code")
    place_atomically(source, tmp_path / "linked", link=True)
    place_atomically(source, tmp_path / "copied")
    assert (tmp_path / "linked").stat().st_ino == source.stat().st_ino
    assert (tmp_path / "copied").stat().st_ino != source.stat().st_ino
    place_atomically(source, tmp_path / "moved", move=True)
    assert not source.exists()
    assert (tmp_path / "moved").read_text() == "code"
    assert sorted(os.listdir(tmp_path)) == ["copied", "linked", "moved"]
