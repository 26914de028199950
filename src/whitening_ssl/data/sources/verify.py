"""Bad image files: a cheap check before training and a decode policy during it (``docs/data.md``).

* Before training, :func:`find_bad_images` runs cheap per-file checks (size, header, end marker)
  over all files or a seeded sample; :func:`describe_bad_images` makes the findings one line.
* During training, :class:`BadImageGuard` decodes each image fully (``image.load()``, with Pillow's
  ``LOAD_TRUNCATED_IMAGES`` left False, so a truncated JPEG raises instead of being padded with
  grey) and either stops with a :class:`BadImageError` naming the file, or skips to the next
  decodable image and records the bad index in shared memory for the end-of-run summary.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import torch
from PIL import Image, UnidentifiedImageError

from whitening_ssl.data.errors import BadImageError as BadImageError
from whitening_ssl.data.errors import BadImageWarning as BadImageWarning
from whitening_ssl.data.errors import one_line
from whitening_ssl.data.sources.image_policies import BAD_IMAGE_POLICIES as BAD_IMAGE_POLICIES
from whitening_ssl.data.sources.image_policies import VERIFY_MODES as VERIFY_MODES

# What Pillow raises for a file it cannot open or decode: OSError (truncated, unidentified, missing or
# unreadable), SyntaxError / ValueError / EOFError / struct.error from format plugins reading broken
# headers, and DecompressionBombError for images too large to decode safely.
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, Image.DecompressionBombError)

JPEG_END_OF_IMAGE = b"\xff\xd9"
PNG_IEND_CHUNK = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # length 0, type IEND, fixed CRC
# Bytes some writers append after the end marker; they do not make a file bad.
TRAILING_PADDING = b"\x00\xff \t\r\n"
TAIL_BYTES = 4096
MAX_CONSECUTIVE_BAD_IMAGES = 100
VERIFY_HINT = (
    "start anyway with data.verify_images=none (undecodable images are then skipped during training, "
    "as data.on_bad_image=skip)"
)


class BadImage(NamedTuple):
    """A file that failed a check, with a one-line reason."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path} ({self.reason})"


_JPEG_END = (JPEG_END_OF_IMAGE, "JPEG does not end with the end-of-image marker FFD9 (truncated?)")
#: Pillow's format -> (the bytes a whole file ends with, the problem when it does not); MPO: multi-picture JPEGs
END_MARKERS = {
    "JPEG": _JPEG_END,
    "MPO": _JPEG_END,
    "PNG": (PNG_IEND_CHUNK, "PNG does not end with an IEND chunk (truncated?)"),
}


def check_image_file(path: str | os.PathLike) -> str | None:
    """Why ``path`` is not a usable image file, or None if the cheap checks pass.

    Cheapest first, no pixel decoded: not empty; Pillow identifies the header; a JPEG ends with
    FFD9 and a PNG with IEND (the last :data:`TAIL_BYTES` bytes, trailing padding allowed). A file
    that passes can still fail to decode; the run-time policy handles those.
    """
    try:
        size = os.path.getsize(path)
        if size == 0:
            return "empty file (0 bytes)"
        with open(path, "rb") as file:
            try:
                with Image.open(file) as image:
                    image_format = image.format
            except UnidentifiedImageError:
                return "not an image file Pillow can identify"
            except DECODE_ERRORS as error:
                return f"unreadable image header: {one_line(error)}"
            if image_format not in END_MARKERS:
                return None
            marker, problem = END_MARKERS[image_format]
            file.seek(max(0, size - TAIL_BYTES))
            return None if file.read().rstrip(TRAILING_PADDING).endswith(marker) else problem
    except OSError as error:
        return f"cannot read the file: {error.strerror or one_line(error)}"


def find_bad_images(
    paths: Sequence[str | os.PathLike], mode: str = "sample", sample_size: int = 256, seed: int = 0, threads: int = 8
) -> list[BadImage]:
    """Run :func:`check_image_file` on ``paths`` and return the failures, in input order.

    ``mode``: ``all`` files, a ``sample`` of ``sample_size`` drawn with ``seed`` (all if fewer), or
    ``none``. Only the selected entries of ``paths`` are read (it may be a lazy sequence), by
    ``threads`` threads (file I/O releases the GIL).
    """
    if mode not in VERIFY_MODES:
        raise ValueError(f"Unknown image check mode {mode!r}; choose one of: {', '.join(VERIFY_MODES)}")
    if sample_size < 1 or threads < 1:
        raise ValueError(f"sample_size and threads must be positive, got sample_size={sample_size}, threads={threads}")
    selected = [os.fspath(paths[int(index)]) for index in VERIFY_MODES[mode](len(paths), sample_size, seed)]
    if not selected:
        return []
    with ThreadPoolExecutor(max_workers=min(threads, len(selected))) as pool:
        reasons = list(pool.map(check_image_file, selected))
    return [BadImage(path, reason) for path, reason in zip(selected, reasons) if reason is not None]


def describe_bad_images(bad: Sequence[BadImage], limit: int = 5) -> str:
    """One line: how many bad files, the first ``limit`` with reasons, and what to do about them."""
    if not bad:
        return "No bad image files found"
    shown = ", ".join(str(item) for item in bad[:limit])
    more = f" and {len(bad) - limit} more" if len(bad) > limit else ""
    noun = "file" if len(bad) == 1 else "files"
    return f"{len(bad)} bad image {noun}: {shown}{more}; remove or fix them, or {VERIFY_HINT}"


def to_rgb(image: Image.Image) -> Image.Image:
    """``image`` as 8-bit RGB. A 16-bit grayscale image (a 16-bit PNG opens as mode ``I;16`` or ``I``) is scaled
    to 8 bits (``v / 257``): PIL's own conversion would clip every value above 255, turning it almost white."""
    if image.mode == "RGB":
        return image
    if image.mode == "I" or image.mode.startswith("I;16"):
        import numpy as np

        eight = np.clip(np.round(np.asarray(image, dtype=np.float64) / 257.0), 0, 255).astype(np.uint8)
        return Image.fromarray(eight, mode="L").convert("RGB")
    return image.convert("RGB")


def decode_rgb(path: str | os.PathLike) -> Image.Image:
    """Open ``path`` and decode all of its pixels as an RGB image; raises one of :data:`DECODE_ERRORS` if bad
    (eagerly: a truncated file fails here, not later inside a transform)."""
    with open(path, "rb") as file:
        image = Image.open(file)
        image.load()
        return to_rgb(image)


class BadImageGuard:
    """Decode images by index under an ``on_bad_image`` policy, remembering bad indices in shared memory.

    ``stop`` raises :class:`BadImageError` naming the file. ``skip`` warns once per file
    (:class:`BadImageWarning`) and returns the next decodable item (index + 1, + 2, ..., wrapping
    around); :data:`MAX_CONSECUTIVE_BAD_IMAGES` failures in a row mean broken data: an error.
    ``flags`` is a bool tensor in shared memory made when the dataset is built, so the flags of
    forked or spawned DataLoader workers reach the main process (:meth:`flagged_indices`); a
    flagged file is not decoded again, by any worker, in any epoch.
    """

    def __init__(self, num_items: int, on_bad_image: str) -> None:
        if on_bad_image not in BAD_IMAGE_POLICIES:
            raise ValueError(f"Unknown on_bad_image {on_bad_image!r}; choose one of: {', '.join(BAD_IMAGE_POLICIES)}")
        self.on_bad_image = on_bad_image
        self.flags = torch.zeros(num_items, dtype=torch.bool).share_memory_()

    def load(self, index: int, path_of: Callable[[int], str]) -> tuple[int, Image.Image]:
        """``(index actually used, RGB image)`` for item ``index``; ``path_of(i)`` gives item i's file."""
        handle_bad_image = BAD_IMAGE_POLICIES[self.on_bad_image]
        num_items = len(self.flags)
        if not -num_items <= index < num_items:  # the end of the sequence protocol (``for item in dataset``)
            raise IndexError(f"index {index} out of range for {num_items} items")
        index %= num_items
        for offset in range(MAX_CONSECUTIVE_BAD_IMAGES):
            candidate = (index + offset) % num_items
            if self.flags[candidate]:
                continue
            path = path_of(candidate)
            try:
                return candidate, decode_rgb(path)
            except DECODE_ERRORS as error:
                handle_bad_image(path, error, candidate, self.flags)
        raise BadImageError(
            f"{MAX_CONSECUTIVE_BAD_IMAGES} consecutive images from {path_of(index)} on cannot be "
            "decoded: the dataset looks broken; check that dataset.root holds readable image files"
        )

    def flagged_indices(self) -> list[int]:
        """Indices flagged as bad so far, by this process or any DataLoader worker."""
        return torch.nonzero(self.flags).flatten().tolist()
