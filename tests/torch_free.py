"""Run Python code in a fresh process where torch, torchvision, Lightning and timm cannot be imported.

The pre-run check (``check=true``) and ``--help`` must not import them (nor W&B or matplotlib) (seconds of start-up):
``run_torch_free(code)`` fails the test with the import chain that reached one of them.
"""

import json
import subprocess
import sys
import textwrap

from helpers import ROOT, cli_env

TESTS = str(ROOT / "tests")
HEAVY = ("torch", "torchvision", "pytorch_lightning", "lightning", "lightning_fabric", "timm", "wandb", "matplotlib")

_BLOCKER = """
import sys, traceback
HEAVY = {heavy!r}
class _Blocked(ImportError):
    pass
class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HEAVY:
            chain = [f"{{f.filename.split('/src/')[-1]}}:{{f.lineno}}" for f in traceback.extract_stack()
                     if "whitening_ssl" in f.filename][-8:]
            print("HEAVY-IMPORT " + name + " via " + " <- ".join(reversed(chain)), file=sys.stderr)
            raise _Blocked(f"{{name}} may not be imported here")
        return None
sys.meta_path.insert(0, _Blocker())
"""


def run_torch_free(code: str, timeout: float = 120, returncode: int = 0) -> str:
    """Run ``code`` (with ``tests``' helpers importable) where the heavy packages are blocked; returns its
    stdout and stderr (the code may print JSON for the test to read). Fails with the import chain otherwise, or
    when the process exits with another status than ``returncode``."""
    script = _BLOCKER.format(heavy=HEAVY) + f"sys.path.insert(0, {TESTS!r})\n" + textwrap.dedent(code)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=timeout
    )
    heavy = [line for line in result.stderr.splitlines() if line.startswith("HEAVY-IMPORT")]
    assert not heavy, "\n".join(heavy)
    assert result.returncode == returncode, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def run_py_torch_free(*arguments: str, returncode: int = 0) -> str:
    """``python run.py <arguments>`` where the heavy packages cannot be imported: its output."""
    return run_torch_free(
        f"""
        import runpy
        sys.argv = ["run.py", *{list(arguments)!r}]
        runpy.run_path("run.py", run_name="__main__")
        """,
        returncode=returncode,
    )


def json_torch_free(code: str) -> object:
    """:func:`run_torch_free` for code whose last printed line is JSON."""
    return json.loads(run_torch_free(code).strip().splitlines()[-1])
