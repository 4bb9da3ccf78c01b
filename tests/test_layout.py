"""The codebase's shape: files with one job, imports that point down, entry points that stay light."""

from __future__ import annotations

import ast
import re
import subprocess
import sys

import pytest

from conftest import ROOT

PACKAGE = ROOT / "src" / "mnistlab"
# Lower layers never import higher ones: entry scripts > tasks > lab and serve > the parts of a run
# (training, models, data, runs, launch, reports) > basics (config, errors, checks, files, terminal).
LAYERS = {
    "tasks": 4,
    "lab": 3,
    "serve": 3,
    "training": 2,
    "models": 2,
    "data": 2,
    "runs": 2,
    "launch": 2,
    "reports": 2,
}  # everything else (config and the root's modules) is layer 1
ROOT_MODULES = 5  # __init__ included: the rest of the package is read by its folders


def layer(module: str) -> int:
    return LAYERS.get(module.split(".")[1], 1) if module.startswith("mnistlab.") else 0


def project_imports() -> dict[str, set[str]]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        tree = ast.parse(path.read_text())
        imported = set()
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("mnistlab")
            ):
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported |= {a.name for a in node.names if a.name.startswith("mnistlab")}
        found[name.removesuffix(".__init__")] = imported
    return found


def test_imports_point_down_and_form_no_loop():
    imports = project_imports()
    upward = [
        f"{module} imports {other}"
        for module, others in imports.items()
        for other in others
        if layer(other) > layer(module) and other.split(".")[1] != module.split(".")[1]
    ]
    assert upward == []

    def visit(module: str, path: tuple[str, ...]) -> None:
        for other in imports.get(module, ()):
            assert other not in path, f"import loop: {' -> '.join((*path, other))}"
            visit(other, (*path, other))

    for module in imports:
        visit(module, (module,))


def test_the_package_root_holds_at_most_five_modules_and_every_folder_is_a_package():
    root = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(root) <= ROOT_MODULES, root
    folders = [d for d in PACKAGE.iterdir() if d.is_dir() and d.name != "__pycache__"]
    assert all((d / "__init__.py").is_file() for d in folders)
    assert {d.name for d in folders} <= set(LAYERS) | {"config"}


def test_no_source_file_is_longer_than_250_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in (ROOT / "src").rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 250
    }
    assert long == {}


@pytest.mark.parametrize(
    "modules",
    ["mnistlab.launch.jobs, mnistlab.tasks.predict, mnistlab.tasks.demo", "mnistlab.models.build"],
)
def test_predicting_and_the_demo_load_no_training_code_and_gradio_waits_for_the_page(modules):
    """predict.py and the demo need no Lightning; gradio loads only when the page is built, so
    no entry point's start-up (`train.py --help` imports mnistlab.launch.jobs) pays for it."""
    code = (
        f"import sys, {modules}; "
        "print(sorted(m for m in sys.modules if m.startswith(('pytorch_lightning', "
        "'mnistlab.tasks.train', 'mnistlab.training.recorder', 'mnistlab.training.progress', "
        "'mnistlab.training.interrupt', 'mnistlab.models.classifier', 'gradio'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == "[]"


def test_the_code_reaches_into_no_private_lightning_state():
    private = re.compile(
        r"fit_loop|epoch_loop|optim_step_progress|_batches_that_stepped|\._results\b"
    )
    offenders = [
        f"{p.relative_to(ROOT)}: {match.group()}"
        for p in (ROOT / "src").rglob("*.py")
        for match in private.finditer(p.read_text())
    ]
    assert offenders == []
