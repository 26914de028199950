"""Listing image folders: class folders and the image files under them (paths only, no image read; torch-free,
so that the pre-run check finds a dataset's files without importing torch)."""

from __future__ import annotations

import os
from pathlib import Path

#: file extensions read as images (torchvision's ``IMG_EXTENSIONS``, lower case; a test keeps them equal)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def class_folders(directory: Path) -> list[str]:
    """Sorted names of the sub-folders of ``directory`` ([] when it does not exist)."""
    if not directory.is_dir():
        return []
    with os.scandir(directory) as entries:
        return sorted(entry.name for entry in entries if entry.is_dir())


def scan_class_folders(directory: Path, class_to_idx: dict[str, int]) -> list[tuple[str, int]]:
    """``(path, label)`` of the image files under ``directory/<class>/`` (recursively, sorted).

    Class folders missing from ``directory`` are skipped, so a validation folder may hold a subset
    of the training classes and keep their indices.
    """
    samples: list[tuple[str, int]] = []
    for class_name, label in sorted(class_to_idx.items(), key=lambda item: item[1]):
        for folder, _, file_names in sorted(os.walk(directory / class_name, followlinks=True)):
            samples.extend(
                (os.path.join(folder, name), label)
                for name in sorted(file_names)
                if name.lower().endswith(IMAGE_EXTENSIONS)
            )
    return samples


def list_images(directory: str | os.PathLike) -> list[str]:
    """Image files under ``directory`` (recursively), as sorted paths relative to it (``os.scandir``: its
    entries carry the file type, so a folder costs one system call rather than one ``stat`` per file)."""
    found = []
    pending = [("", os.fspath(directory))]
    while pending:
        prefix, folder = pending.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir():
                    pending.append((prefix + entry.name + "/", entry.path))
                elif entry.name.lower().endswith(IMAGE_EXTENSIONS) and entry.is_file():
                    found.append(prefix + entry.name)
    return sorted(found)
