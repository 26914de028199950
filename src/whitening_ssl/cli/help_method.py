"""``python run.py [method=NAME] --help``: every setting of the chosen method, its value and one line of meaning.

The values are the composed configuration's (the same as ``--cfg job`` shows); the meanings come from
where the defaults do: the code's docstrings and comments (:func:`whitening_ssl.settings.methods.meanings`,
read without importing torch), the shared nodes' ``# ...`` comments (``conf/method/_shared/*.yaml``),
else the preset's own (``conf/method/<name>.yaml``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..settings.methods import loss_meanings, meanings
from .conf_text import setting_lines, wrap, yaml_comments

SHARED = "_shared"
SHRINKAGE = (
    "method.eps is the built-in shrinkage toward the identity, S <- (1 - eps) S + eps I, of every "
    "covariance kind (zca, pca, cholesky, iternorm): a shrinkage ZCA is method.whiten=zca method.eps=0.1, "
    "with no code of your own"
)


def _yaml_meanings(conf: Path, choice: Any) -> tuple[dict[str, str], dict[str, str]]:
    """``({key: comment}, {key: comment})`` of the shared method nodes and of the preset itself."""
    shared: dict[str, str] = {}
    for file in sorted((conf / "method" / SHARED).glob("*.yaml")):
        shared.update({key.removeprefix("method."): text for key, text in yaml_comments(file.read_text())[2].items()})
    preset, own = conf / "method" / f"{choice}.yaml", {}
    if isinstance(choice, str) and preset.is_file():
        own = {
            key.partition(".")[2]: text
            for key, text in yaml_comments(preset.read_text())[2].items()
            if key.startswith("method.")
        }
    return shared, own


def method_section(conf: Path, method: Mapping[str, Any] | None, choice: Any) -> list[str]:
    """The lines of the help's method section for the composed ``method`` node."""
    if not isinstance(method, Mapping):
        return []
    lines = [f"Method settings (method={choice}, family {method.get('family')}; method.KEY=VALUE, its meaning)"]
    code, (shared, own) = meanings(), _yaml_meanings(conf, choice)
    for key, value in method.items():
        if isinstance(value, Mapping):  # a loss node: {name, its arguments}
            own = loss_meanings(str(value.get("name")))
            lines += [
                line
                for sub, item in value.items()
                for line in setting_lines(
                    f"method.{key}.{sub}",
                    item,
                    own.get(sub, "the loss (its registry name, or module.Class of your own)" if sub == "name" else ""),
                )
            ]
            continue
        lines += setting_lines(f"method.{key}", value, code.get(key) or shared.get(key) or own.get(key, ""))
    if "eps" in method:
        lines += ["", *wrap(SHRINKAGE, 4, "  note:")]
    return lines
