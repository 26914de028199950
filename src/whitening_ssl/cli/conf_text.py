"""Reading ``conf/``: its config groups and their options, the ``# ...`` comments of its YAML files, and the
help's ``key = value  meaning`` lines made from them (``--help``'s pages: :mod:`.help`, :mod:`.help_method`)."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

WIDTH = 100
KEY_WIDTH = 34  # "  key = value" column before the comment
HIDDEN_PREFIX = "_"
HYDRA_GROUP = "hydra"
SKIPPED_SECTIONS = ("defaults", HYDRA_GROUP)  # config.yaml nodes that are not settings
#: the package's own conf/ (editable install, source tree) when Hydra's search path does not say
DEFAULT_CONF = Path(__file__).resolve().parents[3] / "conf"

_KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w-]*):(?P<rest>.*)$")
_COMMENT_LINE = re.compile(r"^(?P<indent> *)#\s?(?P<text>.*)$")


def yaml_comments(text: str) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """``(top, sections, keys)`` of a YAML file: its top-level keys in order, the comment block just
    above each of them, and the trailing ``# ...`` comment of each top-level and second-level key
    (``data.batch_size``) with the indented comment lines that continue it."""
    top: list[str] = []
    sections: dict[str, str] = {}
    keys: dict[str, str] = {}
    block: list[str] = []
    section, last = None, None  # last: the key whose trailing comment a deeper comment line continues
    for line in text.splitlines():
        comment, match = _COMMENT_LINE.match(line), _KEY_LINE.match(line)
        if comment:
            if not comment["indent"]:
                block.append(comment["text"].strip())
            elif last is not None:
                keys[last] += " " + comment["text"].strip()
            continue
        last = None
        if not match:
            block = [] if not line.strip() else block
            continue
        _, _, trailing = match["rest"].partition(" #")
        dotted = match["key"] if not match["indent"] else f"{section}.{match['key']}"
        if not match["indent"]:
            section = match["key"]
            top.append(section)
            if block:
                sections[section] = " ".join(block)
        block = []
        if len(match["indent"]) <= 2 and trailing.strip():
            keys[dotted] = trailing.strip()
            last = dotted
    return top, sections, keys


def conf_dir(root: Any | None = None) -> Path:
    """The primary config folder of this Hydra run (``hydra.runtime.config_sources``), else the package's."""
    sources = OmegaConf.select(root, "hydra.runtime.config_sources", default=None) if root is not None else None
    for source in sources or ():
        if source.get("provider") == "main" and source.get("schema") == "file":
            return Path(str(source["path"]))
    return DEFAULT_CONF


def _visible(path: Path, top: Path) -> bool:
    return not any(part.startswith(HIDDEN_PREFIX) for part in path.relative_to(top).parts)


def config_groups(conf: Path) -> dict[str, list[str]]:
    """``{group: [option, ...]}`` of the folders of ``conf`` (options of subfolders as ``paper/name``),
    without Hydra's own groups and without any name starting with ``_``."""
    groups = {}
    for folder in sorted(p for p in conf.iterdir() if p.is_dir() and p.name != HYDRA_GROUP and _visible(p, conf)):
        files = [f for f in folder.rglob("*.yaml") if _visible(f, folder)]
        options = sorted(
            (f.relative_to(folder).with_suffix("").as_posix() for f in files), key=lambda name: ("/" in name, name)
        )
        if options:
            groups[folder.name] = options
    return groups


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)  # null, true, numbers, lists and mappings as JSON


def wrap(text: str, indent: int, first: str = "") -> list[str]:
    first = first.ljust(indent) if len(first) < indent else first + " "
    return textwrap.wrap(text, WIDTH, initial_indent=first, subsequent_indent=" " * indent, break_on_hyphens=False) or [
        first.rstrip()
    ]


def setting_lines(key: str, value: Any, comment: str) -> list[str]:
    left = f"  {key} = {_text(value)}"
    if not comment:
        return [left]
    if len(left) >= KEY_WIDTH:
        return [left, *wrap(comment, KEY_WIDTH + 1)]
    return wrap(comment, KEY_WIDTH + 1, left)
