"""The configuration's generated nodes: every method family's and every loss's settings with their defaults.

A default lives in one place, the code: a method family's ``default_settings()`` (the whitening's, the
loss's and the method's own signatures) and a loss's constructor (:func:`~whitening_ssl.losses.loss_defaults`).
This module writes them as the YAML files the presets compose,

- ``conf/method/_defaults/<family>.yaml`` (``# @package method``), for the families with ``default_settings``;
- ``conf/method/_losses/<name>.yaml`` (``# @package method.loss``), for every entry of
  :data:`~whitening_ssl.losses.LOSSES`;
- ``conf/method/_shared/extras.yaml``: any method's whitening layer and SIGReg term,

so that the configuration composes with Hydra alone (a notebook's ``compose`` needs no import of this
package) and a user reads a method's settings under ``conf/``. The files are a committed copy:

    python -m whitening_ssl.cli.write_defaults --write   # after changing a default, a kind, a loss or a family
    python -m whitening_ssl.cli.write_defaults --check   # exit 1, naming the files that differ from the code

and a test fails when they drift from the code.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

#: the package's own conf/ (editable install, source tree)
CONF = Path(__file__).resolve().parents[3] / "conf"
COMMAND = "python -m whitening_ssl.cli.write_defaults --write"
#: the generated folders: (folder under conf/, Hydra package of its nodes)
WIDTH = 110
FOLDERS = {"method/_defaults": "method", "method/_losses": "method.loss"}
#: single generated files among hand-written ones: path under conf/ -> Hydra package
FILES = {"method/_shared/extras.yaml": "method"}


def generated_nodes() -> dict[str, tuple[str, dict[str, Any]]]:
    """``{path under conf/: (what it holds, node)}`` of every generated file, made from the registries."""
    from ..losses import LOSSES, loss_defaults
    from ..methods import METHODS, PretrainModule

    nodes: dict[str, tuple[str, dict[str, Any]]] = {}
    for family, method_class in METHODS.items():
        defaults = getattr(method_class, "default_settings", None)
        if defaults is not None:
            nodes[f"method/_defaults/{family}.yaml"] = (
                f"method.family={family} ({method_class.__module__}.{method_class.__name__}): every setting of the "
                "family with its default, from the signatures of its whitening, its loss and the method itself "
                "(default_settings)",
                defaults(),
            )
    nodes["method/_shared/extras.yaml"] = (
        "Any method: the whitening layer on the backbone's features (method.feature_whitening) and the SIGReg term "
        "(method.sigreg_weight), with their defaults from the code (whitening_ssl.methods.extras); "
        "conf/method/_shared/head.yaml composes it",
        PretrainModule.extras_settings(),
    )
    for name, loss_class in LOSSES.items():
        nodes[f"method/_losses/{name}.yaml"] = (
            f"method.loss.name={name} ({loss_class.__module__}.{loss_class.__name__}): the constructor's arguments "
            "with their defaults",
            {"name": name, **loss_defaults(loss_class)},
        )
    return nodes


def render(path: str, about: str, node: Mapping[str, Any]) -> str:
    """The text of the generated file ``path`` (under conf/) holding ``node``."""
    package = FILES.get(path) or FOLDERS[str(Path(path).parent.as_posix())]
    header = textwrap.wrap(
        f"{about}. Generated from the code by `{COMMAND}`: do not edit (a test fails when this "
        "file and the code differ).",
        width=WIDTH - 2,
    )
    body = OmegaConf.to_yaml(OmegaConf.create(dict(node))) if node else "{}\n"
    return f"# @package {package}\n" + "".join(f"# {line}\n" for line in header) + body


def expected_files() -> dict[str, str]:
    """``{path under conf/: text}`` of every generated file."""
    return {path: render(path, about, node) for path, (about, node) in generated_nodes().items()}


def differences(conf: Path = CONF) -> list[str]:
    """The generated files under ``conf`` that are missing, stale or left over (paths under conf/)."""
    expected = expected_files()
    found = {p.relative_to(conf).as_posix() for folder in FOLDERS for p in (conf / folder).glob("*.yaml")}
    stale = [
        path for path, text in expected.items() if not (conf / path).is_file() or (conf / path).read_text() != text
    ]
    return sorted(stale + sorted(found - set(expected)))


def write(conf: Path = CONF) -> list[str]:
    """Write every generated file under ``conf`` and remove left-over ones; returns the paths changed."""
    changed = differences(conf)
    expected = expected_files()
    for path in changed:
        target = conf / path
        if path in expected:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(expected[path])
        else:
            target.unlink()
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m whitening_ssl.cli.write_defaults",
        description="The configuration's generated nodes (conf/method/_defaults, conf/method/_losses) from the code.",
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="write the files that differ from the code")
    action.add_argument("--check", action="store_true", help="exit 1 when a file differs from the code")
    parser.add_argument("--conf", type=Path, default=CONF, help=f"the config folder (default: {CONF})")
    args = parser.parse_args(argv)
    if args.write:
        changed = write(args.conf)
        print(
            "\n".join(f"{'wrote' if (args.conf / path).is_file() else 'removed'} conf/{path}" for path in changed)
            or "the generated files are up to date"
        )
        return 0
    stale = differences(args.conf)
    for path in stale:
        print(f"error: conf/{path} differs from the code: run {COMMAND}", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
