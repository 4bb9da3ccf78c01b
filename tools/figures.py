"""The documentation's figures, from one source: the commands in docs/figures/figures.yaml, run on
one machine, and the small files they wrote, stored under docs/figures/<name>/.

    make figures                      # every command of the manifest, in its order
    make figures NAMES="cnn lab"      # those only (a later command may read an earlier's folders)
    python tools/figures.py store NAME FOLDER... --wall-s S --started-unix T
                                      [--printed FILE] [--commit C]
                                      # store folders the manifest's command for NAME already wrote

Each stored entry holds the files the pages quote (metrics.json of every run, a sweep's
sweep_report.md and .csv, the lab's lab_report.md; a command's printed output where the manifest
says `printed: true`) and source.json: the command, its folders, its wall time, the commit and
the machine facts (processor with its family, model and vector instructions, cores, threads,
torch). tools/figure_text.py puts them into the pages when the site is built;
tests/test_figures.py fails when a page states a run's figure by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
STORE = ROOT / "docs" / "figures"
MANIFEST = STORE / "figures.yaml"
LOGS = ROOT / "logs"
# What a page may quote from a run's folder: small text files, never weights or predictions.
KEPT = ("metrics.json", "status.json", "sweep_report.md", "sweep_report.csv", "lab_report.md")
PRINTED, SOURCE = "printed.txt", "source.json"
STAMP = re.compile(r"^\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_\d+_?")  # a run folder's <time>_<pid>_


def manifest() -> dict[str, dict]:
    return yaml.safe_load(MANIFEST.read_text())


def machine() -> dict[str, object]:
    """What decides a run's last digits besides its settings: the processor (it orders float sums
    its own way: two processors of one name can differ, hence its family and model and the vector
    instructions torch uses on it), the cores and threads, the torch build."""
    import torch

    cpuinfo = Path("/proc/cpuinfo")
    first = cpuinfo.read_text().split("\n\n")[0] if cpuinfo.is_file() else ""  # processor 0
    facts = {k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in first.splitlines())}
    model = (
        f"family {facts['cpu family']} model {facts['model']}"
        if "cpu family" in facts and "model" in facts
        else None
    )
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "processor": facts.get("model name") or platform.processor() or platform.machine(),
        "processor_model": model, "vector_instructions": torch.backends.cpu.get_cpu_capability(),
        "cores": len(os.sched_getaffinity(0)), "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__, "gpu": gpu, "python": platform.python_version(),
    }  # fmt: skip


def log_folders() -> set[Path]:
    """The folders commands write: single runs, multiruns (sweeps, the lab's families), the lab."""
    return {p for sub in ("train/runs", "train/multiruns", "lab") for p in LOGS.glob(f"{sub}/*")}


def _keep(source: Path, target: Path) -> None:
    """The kept files of one folder (a run, a sweep, a search, the lab) and of every run under it;
    a sweep's job that reused a run keeps that run's metrics and status."""
    from mnistlab.runs.cache import pointed_run
    from mnistlab.runs.folders import read_status, run_dirs

    for folder in sorted({source, *run_dirs(source)}):
        into = target / folder.relative_to(source)
        into.mkdir(parents=True, exist_ok=True)
        run = pointed_run(folder, read_status(folder) or {}) or folder
        for name in KEPT:
            origin = run if name in ("metrics.json", "status.json") else folder
            if (origin / name).is_file():
                shutil.copyfile(origin / name, into / name)


def _shown(folder: Path) -> str:
    return str(folder.relative_to(ROOT)) if folder.is_relative_to(ROOT) else str(folder)


def store(
    name: str,
    folders: list[Path],
    printed: str | None,
    wall_s: float,
    started: float,
    commit: str = "",
) -> Path:
    """docs/figures/<name>/: the kept files of each folder (one folder: at the top; several: each
    under its name less the time stamp) and source.json."""
    entry = manifest()[name]
    target = STORE / name
    shutil.rmtree(target, ignore_errors=True)
    for folder in folders:
        _keep(folder, target / _stored_as(folder, folders))
    target.mkdir(parents=True, exist_ok=True)
    if printed is not None:
        (target / PRINTED).write_text(
            "\n".join(line.rstrip() for line in printed.rstrip().splitlines()) + "\n"
        )
    source = {
        "command": entry["command"], "folders": [_shown(f) for f in folders],
        "started_unix": round(started, 1), "wall_s": round(wall_s, 1), "machine": machine(), "commit": commit or head(),
        "stored": time.strftime("%Y-%m-%d"),
    }  # fmt: skip
    (target / SOURCE).write_text(json.dumps(source, indent=2) + "\n")
    return target


def head() -> str:
    """The commit checked out now (short)."""
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return done.stdout.strip()


def _stored_as(folder: Path, folders: list) -> str:
    """The name a folder of an entry is stored under: none for an entry of one folder, else the
    folder's name less its time stamp (the lab's own folder: report)."""
    return "" if len(folders) == 1 else STAMP.sub("", folder.name) or "report"


def _command(text: str) -> str:
    """The manifest's command with `{name}` (or `{name/0}`, `{lab/cnn_fashion/2}`) replaced by
    the folder that entry's command wrote."""

    def folder(match: re.Match) -> str:
        name, _, inside = match.group(1).partition("/")
        folders = [Path(f) for f in json.loads((STORE / name / SOURCE).read_text())["folders"]]
        for written in folders:
            stored_as = _stored_as(written, folders)
            if not stored_as or inside.split("/")[0] == stored_as:
                return shlex.quote(str(written / inside.removeprefix(stored_as).lstrip("/")))
        sys.exit(f"figures: {match.group(0)}: no folder of '{name}' is stored as '{inside}'.")

    return re.sub(r"\{([\w/-]+)\}", folder, text)


def run(names: list[str]) -> None:
    """Each entry's command from the repository's root, one after another; a command that fails
    stops here, naming it, before anything of it is stored."""
    entries = manifest()
    unknown = [n for n in names if n not in entries]
    if unknown:
        sys.exit(
            f"figures: no entry {unknown} in {MANIFEST.relative_to(ROOT)}; its entries: {list(entries)}."
        )
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }  # this venv's python
    for name in names or list(entries):
        entry = entries[name]
        before, start, started = log_folders(), time.perf_counter(), time.time()
        commit = head()  # the code the command runs, whatever is committed while it runs
        print(f"figures: {name}: {entry['command']}", flush=True)
        done = subprocess.run(
            _command(entry["command"]),
            shell=True,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        wall_s = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(
                f"figures: '{entry['command']}' ({name}) failed with exit {done.returncode}:\n{done.stderr[-2000:]}"
            )
        folders = sorted(log_folders() - before)
        printed = done.stdout if entry.get("printed") else None
        print(
            f"  stored in {store(name, folders, printed, wall_s, started, commit).relative_to(ROOT)} ({wall_s:.0f} s)"
        )


def main() -> None:
    sys.path.insert(0, str(ROOT / "src"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("run").add_argument("names", nargs="*")
    keep = sub.add_parser("store")
    keep.add_argument("name")
    keep.add_argument("folders", nargs="+", type=Path)
    keep.add_argument("--printed", type=Path)
    keep.add_argument("--wall-s", type=float, required=True, help="the command's wall time")
    keep.add_argument("--started-unix", type=float, required=True, help="when the command started")
    keep.add_argument("--commit", default="", help="the commit the command ran at (default: HEAD)")
    args = parser.parse_args()
    if args.action == "run":
        run(args.names)
    else:
        printed = args.printed.read_text() if args.printed else None
        folders = [f.resolve() for f in args.folders]
        store(args.name, folders, printed, args.wall_s, args.started_unix, args.commit)


if __name__ == "__main__":
    main()
