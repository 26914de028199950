"""``python run.py --help``: the stages, the config groups found on disk, the main settings with their comments."""

import re
import string

import pytest
from helpers import CONF, ROOT, compose_config, run_cli_in_process

from whitening_ssl.cli.conf_text import WIDTH
from whitening_ssl.stages import STAGES


def _sections(text):
    """``{heading: [line, ...]}``: the page's blocks, each from a line that is not indented, keyed by its
    first word; blank lines left out."""
    sections, current = {}, None
    for line in text.splitlines():
        if line and not line.startswith(" "):
            current = sections.setdefault(line.split()[0], [])
        elif line.strip():
            current.append(line)
    return sections


def _listed(lines):
    """``{name: text}`` of an indented listing ("  name   text" and its continuation lines)."""
    entries = {}
    for line in lines:
        if line.startswith("  ") and not line.startswith("   "):
            name, _, rest = line.strip().partition(" ")
            entries[name] = rest.strip()
        else:
            entries[name] += " " + line.strip()
    return entries


def _words(text):
    return " ".join(text.split())


def _disk_groups():
    """``{group: (visible options, hidden names)}`` straight from conf/: every folder but Hydra's own."""
    groups = {}
    for folder in sorted(p for p in CONF.iterdir() if p.is_dir() and p.name != "hydra"):
        visible, hidden = [], set()
        for file in folder.rglob("*.yaml"):
            parts = file.relative_to(folder).with_suffix("").parts
            underscored = [part for part in parts if part.startswith("_")]
            if underscored or folder.name.startswith("_"):
                hidden.update(underscored)
            else:
                visible.append("/".join(parts))
        groups[folder.name] = (visible, hidden)
    return groups


@pytest.fixture(scope="module")
def help_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("help")
    return run_cli_in_process(["--help"], cwd=cwd), cwd


def test_help_exits_0_and_makes_nothing(help_run):
    done, cwd = help_run
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert list(cwd.iterdir()) == []  # no run folder, no outputs/
    assert max(len(line) for line in done.stdout.splitlines()) <= WIDTH
    assert "powered by Hydra" not in done.stdout  # Hydra's generic page is replaced


def test_help_lists_every_stage_with_its_description(help_run):
    stages = _listed(_sections(help_run[0].stdout)["Stages"])
    assert {name.rstrip("*") for name in stages} == set(STAGES)
    assert "pretrain*" in stages  # the default stage is marked
    for name, stage in STAGES.items():
        assert stage.description and "\n" not in stage.description
        assert _words(stages.get(name, stages.get(name + "*", ""))) == _words(stage.description)


def test_help_lists_every_option_on_disk_and_no_underscore_name(help_run):
    text = help_run[0].stdout
    listed = {
        group: {option.strip().rstrip("*") for option in options.split(",")}
        for group, options in _listed(_sections(text)["Config"]).items()
    }
    groups = _disk_groups()
    hidden = set().union(*(names for _, names in groups.values()))
    assert {"_shared", "_small"} <= hidden  # the building blocks the test is about are still on disk
    for name in hidden:  # as a name of its own (vit_small, listed, holds the hidden "_small")
        assert not re.search(rf"(?<!\w){re.escape(name)}\b", text), name
    assert set(listed) == {group for group, (visible, _) in groups.items() if visible and not group.startswith("_")}
    for group, (visible, _) in groups.items():
        if visible:
            assert listed[group] == set(visible), group
    assert "hydra" not in listed and "job_logging" not in text


def test_help_shows_the_settings_with_their_yaml_comments(help_run):
    settings = _words("\n".join(_sections(help_run[0].stdout)["Main"]))
    assert "eval.evaluate_untrained = false also evaluate the encoder before training, as a baseline" in settings
    # a comment continued on the next line of config.yaml, and the comment above a section
    assert (
        "data.pipeline = auto where the views are made: cpu (torchvision in workers, as published) | device "
        "(batched on the training device) | auto (device when training on a GPU)"
    ) in settings
    assert "knn: stage=knn knn.k = 5" in settings
    assert "stage = pretrain pretrain | linear | knn | export | analyze" in settings
    # Hydra targets are not settings
    assert "model." not in settings and "_target_" not in settings
    assert "probe." not in settings.replace("online_probe.", "")  # the stage's probe: node (online_probe.* is shown)
    assert "online_probe.enabled = auto" in settings


def test_help_lists_usage_and_docs(help_run):
    text = help_run[0].stdout
    for command in (
        "python run.py dataset=cifar100 method=w_mse4",
        "python run.py -m method.whiten=zca,cholesky",
        "python run.py stage=linear ckpt=",
        "python run.py experiment=quickstart",
    ):
        assert command in text
    docs = _listed(_sections(text)["Documentation"])
    assert set(docs) == {"README.md", *(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))}


def test_help_marks_the_current_choices():
    """The page is made for the composed configuration: overrides move the marks and the values."""
    import whitening_ssl.cli.help  # noqa: F401 (registers the resolver, as run.py does through whitening_ssl.cli.entry)

    cfg = compose_config(["method=w_mse2", "stage=knn", "knn.k=20"], with_hydra=True)
    text = string.Template(cfg.hydra.help.template).substitute()  # as Hydra prints it: $$ -> $
    sections = _sections(text)
    groups = _listed(sections["Config"])
    assert "w_mse2*" in groups["method"].split(", ") and "cifar10*" in groups["dataset"].split(", ")
    assert "knn*" in _listed(sections["Stages"])
    settings = _words("\n".join(sections["Main"]))
    assert "knn.k = 20" in settings and "data.eval_batch_size = ${dataset.eval_batch_size}" in settings
