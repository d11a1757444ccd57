"""Deterministic zips: same files -> same bytes -> same digest; exec bits survive."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

from lxm3.packaging.archive import iter_tree, write_zip
from lxm3.packaging.digest import bytes_digest, file_digest


def make_tree(root: Path, order: list[str]) -> Path:
    contents = {
        "pkg/__init__.py": "",
        "pkg/model.py": "WIDTH = 3\n",
        "bin/run.sh": "#!/bin/sh\necho run\n",
        "data/ünï code.txt": "ü\n",
        "README": "x" * 5000,
    }
    for name in order:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(contents[name])
    (root / "bin/run.sh").chmod(0o755)
    return root


NAMES = ["pkg/__init__.py", "pkg/model.py", "bin/run.sh", "data/ünï code.txt", "README"]


def zip_tree(root: Path, destination: Path) -> bytes:
    write_zip(destination, iter_tree(root))
    return destination.read_bytes()


def test_same_tree_gives_identical_bytes_regardless_of_times_modes_and_creation_order(tmp_path: Path) -> None:
    first = make_tree(tmp_path / "a", NAMES)
    second = make_tree(tmp_path / "b", list(reversed(NAMES)))
    for path in second.rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))
    (second / "pkg/model.py").chmod(0o600)  # non-exec permission details do not matter
    one, two = zip_tree(first, tmp_path / "1.zip"), zip_tree(second, tmp_path / "2.zip")
    assert one == two
    assert file_digest(tmp_path / "1.zip") == file_digest(tmp_path / "2.zip") == bytes_digest(one)


def test_rewriting_the_same_tree_later_gives_the_same_digest(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", NAMES)
    before = zip_tree(tree, tmp_path / "1.zip")
    (tree / "pkg/model.py").write_text("WIDTH = 3\n")  # new mtime, same content
    assert zip_tree(tree, tmp_path / "2.zip") == before


def test_any_content_or_name_change_changes_the_digest(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", NAMES)
    digests = {bytes_digest(zip_tree(tree, tmp_path / "0.zip"))}
    (tree / "pkg/model.py").write_text("WIDTH = 4\n")
    digests.add(bytes_digest(zip_tree(tree, tmp_path / "1.zip")))
    (tree / "pkg/model.py").rename(tree / "pkg/model2.py")
    digests.add(bytes_digest(zip_tree(tree, tmp_path / "2.zip")))
    (tree / "pkg/model2.py").chmod(0o755)
    digests.add(bytes_digest(zip_tree(tree, tmp_path / "3.zip")))
    assert len(digests) == 4


def test_exec_bits_are_kept_and_everything_else_normalised(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", NAMES)
    (tree / "pkg/model.py").chmod(0o640)
    zip_tree(tree, tmp_path / "x.zip")
    with zipfile.ZipFile(tmp_path / "x.zip") as bundle:
        modes = {info.filename: info.external_attr >> 16 for info in bundle.infolist()}
        times = {info.date_time for info in bundle.infolist()}
        assert bundle.read("data/ünï code.txt") == "ü\n".encode()
    assert modes["bin/run.sh"] == stat.S_IFREG | 0o755
    assert modes["pkg/model.py"] == stat.S_IFREG | 0o644
    assert modes["README"] == stat.S_IFREG | 0o644
    assert times == {(1980, 1, 1, 0, 0, 0)}


def test_entries_are_sorted_and_caches_are_skipped(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", NAMES)
    for junk in (
        "pkg/__pycache__/model.cpython-311.pyc",
        ".git/HEAD",
        "pkg/stale.pyc",
        ".venv/bin/python",
        "node_modules/x.js",
    ):
        (tree / junk).parent.mkdir(parents=True, exist_ok=True)
        (tree / junk).write_text("junk")
    names = [name for _, name in iter_tree(tree)]
    assert names == sorted(NAMES)
    zip_tree(tree, tmp_path / "x.zip")
    with zipfile.ZipFile(tmp_path / "x.zip") as bundle:
        assert bundle.namelist() == sorted(NAMES)


def test_write_zip_sorts_entries_given_in_any_order(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", NAMES)
    entries = list(iter_tree(tree))
    write_zip(tmp_path / "a.zip", entries)
    write_zip(tmp_path / "b.zip", list(reversed(entries)))
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def incompressible(size: int, seed: int = 0) -> bytes:
    """Deterministic bytes that deflate cannot shrink (model weights, archives, images look alike)."""
    import hashlib

    blocks = (hashlib.sha256(f"{seed}:{i}".encode()).digest() for i in range(size // 32 + 1))
    return b"".join(blocks)[:size]


def test_incompressible_members_are_stored_and_the_zip_stays_deterministic(tmp_path: Path) -> None:
    weights = incompressible(300_000)
    for root in (tmp_path / "a", tmp_path / "b"):
        make_tree(root, NAMES)
        (root / "data/weights.bin").write_bytes(weights)
        (root / "data/vocab.json").write_text('{"word": 1}\n' * 20_000)  # large but compressible
    one, two = zip_tree(tmp_path / "a", tmp_path / "1.zip"), zip_tree(tmp_path / "b", tmp_path / "2.zip")
    assert one == two, "the same sources give the same bytes"
    with zipfile.ZipFile(tmp_path / "1.zip") as bundle:
        kinds = {info.filename: info.compress_type for info in bundle.infolist()}
        assert bundle.read("data/weights.bin") == weights
        assert bundle.testzip() is None
    assert kinds["data/weights.bin"] == zipfile.ZIP_STORED
    assert kinds["data/vocab.json"] == zipfile.ZIP_DEFLATED
    assert kinds["README"] == zipfile.ZIP_DEFLATED
    # Storing makes the zip no larger than deflating everything would.
    everything = tmp_path / "deflated.zip"
    with zipfile.ZipFile(everything, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as bundle:
        bundle.writestr("data/weights.bin", weights)
    assert zipfile.ZipFile(tmp_path / "1.zip").getinfo("data/weights.bin").compress_size < (
        zipfile.ZipFile(everything).getinfo("data/weights.bin").compress_size
    )


def test_a_member_compressible_anywhere_it_is_sampled_is_deflated(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", NAMES)
    # Random head and tail, but a long compressible middle: the middle sample sees it.
    (tree / "data/mixed.bin").write_bytes(
        incompressible(70_000) + b"\0" * 400_000 + incompressible(70_000, 1)
    )
    zip_tree(tree, tmp_path / "x.zip")
    with zipfile.ZipFile(tmp_path / "x.zip") as bundle:
        assert bundle.getinfo("data/mixed.bin").compress_type == zipfile.ZIP_DEFLATED
