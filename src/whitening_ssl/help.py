"""``python run.py --help``: a page generated from the real ``conf/`` folder and the stage registry.

``conf/config.yaml`` sets ``hydra.help.template: ${whitening_ssl_help:}``; the resolver registered
here (at import, through :mod:`whitening_ssl.cli`) builds the page when Hydra prints the help:

- usage: the design card's commands;
- the stages of :data:`whitening_ssl.stages.STAGES`, one line each (their ``description``);
- the config groups found on disk and their options, the current choice marked; names that start
  with ``_`` (``method/_shared``, ``experiment/investigate/_small``) are building blocks of other
  files, and Hydra's own groups (``conf/hydra/``) are not choices: both are left out;
- the main settings of ``conf/config.yaml`` (its top-level keys and the keys of its sections that
  are not Hydra targets), each with its current value and the file's own ``# ...`` comment;
- every setting of the chosen method (:mod:`whitening_ssl.help_method`), with its meaning;
- where the documentation is (``README.md``, ``docs/*.md``).
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from .config_values import plain_dict

RESOLVER = "whitening_ssl_help"
WIDTH = 100
KEY_WIDTH = 34  # "  key = value" column before the comment
HIDDEN_PREFIX = "_"
HYDRA_GROUP = "hydra"
SKIPPED_SECTIONS = ("defaults", HYDRA_GROUP)  # config.yaml nodes that are not settings
#: the package's own conf/ (editable install, source tree) when Hydra's search path does not say
DEFAULT_CONF = Path(__file__).resolve().parents[2] / "conf"

USAGE = (
    ("python run.py experiment=quickstart", "a small CW-RGP model on Fashion-MNIST (a CPU, minutes)"),
    ("python run.py dataset=cifar100 method=w_mse4", "pretrain: pick the dataset and the method"),
    ("python run.py -m method.whiten=zca,cholesky", "a sweep (Hydra multirun): one job per value"),
    ("python run.py stage=linear ckpt=.../last.ckpt", "linear probe of a checkpoint (stage=knn: k-NN)"),
    ("python run.py <arguments> --cfg job", "print the composed configuration, run nothing"),
    ("python -m whitening_ssl.report outputs --plots", "the table and figures of finished runs"),
)

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


def _settings(text: str, values: Mapping[str, Any]) -> list[str]:
    """config.yaml's own keys (not the groups it chooses): scalars first, then each section that is
    not a Hydra target (``model``, ``probe``), with the comment above it."""
    keys, sections, comments = yaml_comments(text)
    keys = [key for key in keys if key not in SKIPPED_SECTIONS and key in values]
    nodes = [key for key in keys if isinstance(values[key], Mapping) and "_target_" not in values[key]]
    lines = ["Main settings (key=value: the current value, then conf/config.yaml's comment)"]
    lines += [
        line
        for key in keys
        if not isinstance(values[key], Mapping)
        for line in setting_lines(key, values[key], comments.get(key, ""))
    ]
    for name in nodes:
        lines += ["", *wrap(sections.get(name, ""), 4, f"  {name}:")]
        lines += [
            line
            for key, value in values[name].items()
            if not isinstance(value, Mapping)
            for line in setting_lines(f"{name}.{key}", value, comments.get(f"{name}.{key}", ""))
        ]
    return lines


def _groups(conf: Path, choices: Mapping[str, Any]) -> list[str]:
    lines = ["Config groups (group=option; * the current choice; the files are in conf/<group>/)"]
    for group, options in config_groups(conf).items():
        marked = [f"{o}*" if o == choices.get(group) else o for o in options]
        lines += wrap(", ".join(marked), 16, f"  {group}")
    return lines


def _stages(current: Any) -> list[str]:
    from .stages import STAGES

    lines = ["Stages (stage=NAME; * the current one)"]
    for name, stage in STAGES.items():
        lines += wrap(stage.description, 16, f"  {name}{'*' if name == current else ''}")
    return lines


def _docs(conf: Path) -> list[str]:
    top = conf.parent
    files = [top / "README.md", *sorted((top / "docs").glob("*.md"))]
    lines = ["Documentation"]
    for file in (f for f in files if f.is_file()):
        title = next((line.lstrip("# ").strip() for line in file.read_text().splitlines() if line.startswith("#")), "")
        lines += wrap(title, 20, f"  {file.relative_to(top).as_posix()}")
    return lines


def help_page(root: Any) -> str:
    """The page, for the composed configuration ``root`` (with its ``hydra`` node)."""
    conf = conf_dir(root)
    values = plain_dict(root, resolve=False)
    choices = (values.get(HYDRA_GROUP) or {}).get("runtime", {}).get("choices", {})
    from .help_method import method_section
    from .method_settings import papers

    parts: Iterable[list[str]] = (
        [
            f"whitening-ssl: whitening losses for self-supervised learning ({papers()})",
            "python run.py [group=option ...] [key=value ...] [-m] [--cfg job]",
            "",
            "Usage",
            *(line for command, what in USAGE for line in wrap(what, 50, f"  {command}")),
        ],
        _stages(values.get("stage")),
        _groups(conf, choices),
        _settings((conf / "config.yaml").read_text(), values),
        method_section(conf, values.get("method"), choices.get("method")),
        _docs(conf),
        wrap(
            "--cfg job|hydra|all prints a configuration, --resolve resolves it, --hydra-help lists Hydra's own flags",
            7,
            "Hydra:",
        ),
    )
    text = "\n\n".join("\n".join(part) for part in parts) + "\n"
    return text.replace("$", "$$")  # Hydra passes the template through string.Template


def _resolve(*, _root_: Any) -> str:
    return help_page(_root_)


OmegaConf.register_new_resolver(RESOLVER, _resolve, replace=True)
