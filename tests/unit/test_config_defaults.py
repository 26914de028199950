"""The configuration composes with Hydra alone, and its generated nodes are the code's defaults."""

import json
import os
import subprocess
import sys

from helpers import CONF

from whitening_ssl.cli.write_defaults import COMMAND, differences, generated_nodes

NOTEBOOK = """
import json, sys
from hydra import compose, initialize, initialize_config_dir

presets, relative, absolute = sys.argv[1].split(","), sys.argv[2], sys.argv[3]
composed = {}
with initialize(config_path=relative, version_base="1.3"):  # relative to this script, as in a notebook
    for preset in presets:
        composed[preset] = compose(config_name="config", overrides=[f"method={preset}"]).method.family
with initialize_config_dir(config_dir=absolute, version_base="1.3"):  # the issue's example, by absolute path
    assert compose(config_name="config", overrides=["method=cw_rgp4"]).method.family == composed["cw_rgp4"]
print(json.dumps({"families": composed, "imported": sorted(m for m in sys.modules if m.startswith("whitening_ssl"))}))
"""


def test_generated_nodes_are_the_code_s_defaults():
    assert differences() == [], f"run {COMMAND}"


def test_every_registered_family_and_loss_has_its_generated_node():
    from whitening_ssl.losses import LOSSES
    from whitening_ssl.methods import METHODS

    nodes = generated_nodes()
    assert {f"method/_losses/{name}.yaml" for name in LOSSES} <= set(nodes)
    assert {
        f"method/_defaults/{family}.yaml" for family, cls in METHODS.items() if hasattr(cls, "default_settings")
    } == {path for path in nodes if path.startswith("method/_defaults/")}


def test_every_method_preset_composes_in_a_fresh_interpreter_without_the_package(tmp_path):
    """``compose`` as a notebook or a script calls it: Hydra only, nothing of whitening_ssl imported."""
    presets = sorted(path.stem for path in (CONF / "method").glob("*.yaml"))
    script = tmp_path / "notebook.py"
    script.write_text(NOTEBOOK)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, str(script), ",".join(presets), os.path.relpath(CONF, tmp_path), str(CONF)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.splitlines()[-1])
    assert found["imported"] == []
    assert sorted(found["families"]) == presets and all(found["families"].values())
