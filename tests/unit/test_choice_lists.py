"""The lists of choices written in the configuration's comments and in the docs are the registries' own, and
the configuration nodes the code and the docs name exist: a new kind, schedule or loss shows up or a test fails."""

import re

import pytest
from helpers import CONF, ROOT

from whitening_ssl.cli.conf_text import yaml_comments


def _registries():
    from whitening_ssl.checkpoints.export_formats import EXPORT_FORMATS
    from whitening_ssl.data import RECIPES
    from whitening_ssl.data.registry import PIPELINES
    from whitening_ssl.data.sources.verify import BAD_IMAGE_POLICIES, VERIFY_MODES
    from whitening_ssl.eval.eval_checks import PROBE_ENABLED
    from whitening_ssl.eval.knn import KNN_WEIGHTINGS
    from whitening_ssl.loggers import WANDB_MODES
    from whitening_ssl.models.heads import ACTIVATIONS
    from whitening_ssl.models.timm_settings import POS_EMBEDS
    from whitening_ssl.optim import OPTIMIZERS
    from whitening_ssl.schedules import SCHEDULES
    from whitening_ssl.stages import MATMUL_PRECISIONS, STAGES
    from whitening_ssl.stages.evaluate import LINEAR_OPTIMIZERS, PROBE_SCHEDULES, PROTOCOLS
    from whitening_ssl.whitening import WHITENING_AXES, WHITENINGS

    return {
        "method.whiten": WHITENINGS,
        "method.axis": WHITENING_AXES,
        "method.optimizer": OPTIMIZERS,
        "method.schedule": SCHEDULES,
        "stage": STAGES,
        "matmul_precision": MATMUL_PRECISIONS,
        "data.pipeline": PIPELINES,
        "data.verify_images": VERIFY_MODES,
        "data.on_bad_image": BAD_IMAGE_POLICIES,
        "linear.protocol": PROTOCOLS,
        "linear.optimizer": LINEAR_OPTIMIZERS,
        "linear.schedule": PROBE_SCHEDULES,
        "knn.weighting": KNN_WEIGHTINGS,
        "export.format": EXPORT_FORMATS,
        "logger.mode": WANDB_MODES,
        "dataset.options.augmentation": ("default", *RECIPES),
        "online_probe.optimizer": OPTIMIZERS,
        "online_probe.enabled": tuple(str(v).lower() for v in PROBE_ENABLED),
        "backbone.pos_embed": POS_EMBEDS,
        "method.head_activation": ACTIVATIONS,
    }


def _listed(comment):
    """The names of a ``a | b (what b is) | c, or ...`` list in a comment (the first one's prose before it dropped)."""
    first, *others = comment.split(" | ")
    first = re.sub(r"\([^()]*\)", "", first)  # explanations in parentheses
    return [re.findall(r"[\w.+-]+", first)[-1]] + [re.match(r"\s*([\w.+-]+)", other).group(1) for other in others]


def _commented_lists():
    """``{dotted key: names}`` of every trailing comment of conf/ that lists choices as ``a | b | c``."""
    found = {}
    for path in sorted(CONF.rglob("*.yaml")):
        text = path.read_text()
        package = re.search(r"^# @package (\S+)", text, re.M)
        group = path.parent.relative_to(CONF).parts[:1]
        prefix = package.group(1) if package else ".".join(group)
        prefix = "" if prefix == "_global_" else prefix.split("/")[0]
        for key, comment in yaml_comments(text)[2].items():
            if re.search(r"[\w-] \| [\w-]", comment):
                found.setdefault(f"{prefix}.{key}" if prefix else key, []).append((path.relative_to(ROOT), comment))
    return found


def test_every_list_of_choices_in_the_configuration_is_its_registry():
    registries = _registries()
    lists = _commented_lists()
    assert set(lists) <= set(registries), f"a list of choices without its registry here: {set(lists) - set(registries)}"
    assert {"method.whiten", "method.optimizer", "method.schedule", "stage"} <= set(lists)
    for key, places in lists.items():
        for path, comment in places:
            assert sorted(_listed(comment)) == sorted(registries[key]), (str(path), key, comment)


@pytest.mark.parametrize(
    "key,doc", [("method.optimizer", "docs/reproduce.md"), ("method.schedule", "docs/reproduce.md")]
)
def test_the_docs_list_every_choice(key, doc):
    sentence = re.search(rf"`{re.escape(key)}` is (.*?)\.(?:\s|$)", (ROOT / doc).read_text().replace("\n", " ")).group(
        1
    )
    assert sorted(re.findall(r"`([\w-]+)`", sentence)) == sorted(_registries()[key])


def test_the_configuration_nodes_named_in_code_docs_and_comments_exist():
    pattern = re.compile(r"(?:method/)?(_shared|_defaults|_losses)/(\w+)")
    files = [*(ROOT / "src").rglob("*.py"), *(ROOT / "docs").glob("*.md"), ROOT / "README.md", *CONF.rglob("*.yaml")]
    named = {
        (path.relative_to(ROOT), folder, name) for path in files for folder, name in pattern.findall(path.read_text())
    }
    assert named and [n for n in named if not (CONF / "method" / n[1] / f"{n[2]}.yaml").is_file()] == []


def test_the_readme_lists_every_option_of_every_group():
    from whitening_ssl.cli.conf_text import config_groups

    rows = dict(re.findall(r"^\| `(\w+)` \| (.*?) \|", (ROOT / "README.md").read_text(), re.M))
    groups = config_groups(CONF)
    assert set(rows) == set(groups)
    for group, options in groups.items():
        listed = re.findall(r"`([\w/.]+)`", rows[group])
        covered = {
            option
            for option in options
            for name in listed
            if option == name or (name.endswith("/...") and option.startswith(name[:-3]))
        }
        assert covered == set(options) and all(n.endswith("/...") or n in options for n in listed), group
