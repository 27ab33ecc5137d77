"""Finds each table's landing files, and says why any other entry of its landing folder is not loaded.

A table loads the regular files (or links to them) directly in `<landing>/<contract.landing_path>/`
whose name ends in `.<format>` exactly. Everything else in that folder is reported, not loaded:
sub-folders, names whose extension differs (including only by case, e.g. `.CSV`), hidden files,
broken links and anything that is not a regular file. `unclaimed` lists files elsewhere in the
landing directory that no contract reads.

A table's folder that is absent holds no files. One that is there but cannot be listed (no permission,
a file or a broken link in its place) raises `FolderError` with a one-line reason: that table fails
alone, as an unreadable file does, and the other tables still load.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from orchestration.ingestion.contracts import TableContract

MANIFEST_NAME = "_manifest.json"  # written by the generator beside the landing folders


@dataclass(frozen=True)
class Ignored:
    path: str  # relative to the landing directory, "/" at the end for folders
    reason: str


@dataclass(frozen=True)
class Listing:
    files: list[Path]
    ignored: list[Ignored]


class FolderError(OSError):
    """A table's landing folder that exists but cannot be listed; the message is one line naming it."""


def display_name(path: Path, root: Path) -> str:
    """The path relative to `root` as text; bytes that are not UTF-8 become \\x.. escapes."""
    rel = os.fsencode(path.relative_to(root).as_posix())
    return rel.decode("utf-8", "backslashreplace")


def scan(contract: TableContract, root: Path) -> Listing:
    folder = root / contract.landing_path
    if not folder.exists() and not folder.is_symlink():
        return Listing([], [])
    try:
        entries = sorted(folder.iterdir(), key=lambda p: os.fsencode(p.name))
    except OSError as exc:  # PermissionError, NotADirectoryError, a broken link (FileNotFoundError), ...
        raise FolderError(
            f"{contract.landing_path}/: cannot read the folder: {exc.strerror or exc}; none of its files loaded"
        ) from None
    files: list[Path] = []
    ignored: list[Ignored] = []
    suffix = f".{contract.file_format}"
    for entry in entries:
        name = display_name(entry, root)
        if entry.is_symlink() and not entry.exists():
            ignored.append(Ignored(name, f"broken link (points to {entry.readlink()})"))
        elif entry.is_dir():
            ignored.append(
                Ignored(
                    name + "/",
                    f"a sub-folder: {contract.key} reads only the files directly in {contract.landing_path}/",
                )
            )
        elif entry.name.startswith("."):
            ignored.append(Ignored(name, "a hidden file"))
        elif not entry.is_file():
            ignored.append(Ignored(name, "not a regular file"))
        elif entry.suffix != suffix:
            hint = " (extensions are case-sensitive)" if entry.suffix.lower() == suffix else ""
            ignored.append(Ignored(name, f"extension {entry.suffix or '(none)'} is not {suffix}{hint}"))
        else:
            files.append(entry)
    return Listing(files, ignored)


def unclaimed(contracts: list[TableContract], root: Path) -> list[Ignored]:
    """Files under `root` outside every contract's landing folder (the generator's manifest aside)."""
    if not root.is_dir():
        return []
    claimed = {(root / c.landing_path).resolve() for c in contracts}
    found: list[Ignored] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if here.resolve() in claimed:
            dirnames[:] = []  # scan() reports what is inside a table's folder
            continue
        dirnames.sort()
        for name in sorted(filenames):
            path = here / name
            if here == root and name == MANIFEST_NAME:
                continue
            found.append(Ignored(display_name(path, root), "no contract reads this folder"))
    return found
