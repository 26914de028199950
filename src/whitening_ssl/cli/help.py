"""``python run.py --help``: a page generated from the real ``conf/`` folder and the stage registry.

``conf/config.yaml`` sets ``hydra.help.template: ${whitening_ssl_help:}``; the resolver registered
here (at import, through :mod:`whitening_ssl.cli.entry`) builds the page when Hydra prints the help:

- usage: the design card's commands;
- the stages of :data:`whitening_ssl.stages.STAGES`, one line each (their ``description``);
- the config groups found on disk and their options, the current choice marked; names that start
  with ``_`` (``method/_shared``, ``experiment/investigate/_small``) are building blocks of other
  files, and Hydra's own groups (``conf/hydra/``) are not choices: both are left out;
- the main settings of ``conf/config.yaml`` (its top-level keys and the keys of its sections that
  are not Hydra targets), each with its current value and the file's own ``# ...`` comment;
- every setting of the chosen method (:mod:`whitening_ssl.cli.help_method`), with its meaning;
- where the documentation is (``README.md``, ``docs/*.md``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from ..config_values import plain_dict
from .conf_text import (
    HYDRA_GROUP,
    SKIPPED_SECTIONS,
    conf_dir,
    config_groups,
    setting_lines,
    wrap,
    yaml_comments,
)

RESOLVER = "whitening_ssl_help"
USAGE = (
    ("python run.py experiment=quickstart", "a small CW-RGP model on Fashion-MNIST (a CPU, minutes)"),
    ("python run.py dataset=cifar100 method=w_mse4", "pretrain: pick the dataset and the method"),
    ("python run.py -m method.whiten=zca,cholesky", "a sweep (Hydra multirun): one job per value"),
    ("python run.py stage=linear ckpt=.../last.ckpt", "linear probe of a checkpoint (stage=knn: k-NN)"),
    ("python run.py <arguments> --cfg job", "print the composed configuration, run nothing"),
    ("python -m whitening_ssl.report outputs --plots", "the table and figures of finished runs"),
)


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
    from ..stages import STAGES

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
    from ..settings.methods import papers
    from .help_method import method_section

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
