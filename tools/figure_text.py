r"""A page's figures, read from the files docs/figures/ stores (tools/figures.py), when the site is
built (docs/hooks.py): a page writes `{{ test_acc cnn }}` and the site shows `98.46%`.

    {{ test_acc NAME }}           98.46%                the test accuracy
    {{ test_interval NAME }}      98.46% (98.20-98.68)  the same with its 95% interval
    {{ mean_acc NAME NAME ... }}  98.72%                the mean test accuracy of these runs
    {{ val_acc NAME }}            0.9846                the tested weights' validation accuracy
    {{ f1 NAME }}                 0.9845                macro F1 on the test set
    {{ f1_interval NAME }}        0.9845 (0.9820-0.9868) the same with its 95% interval
    {{ class_f1 NAME CLASS }}     0.712                 one class's F1 on the test set
    {{ confused NAME TRUE PRED }} 150                   test images of TRUE taken for PRED
    {{ weakest NAME }}            Shirt                 the class of lowest F1 on the test set
    {{ pair NAME K }}             Pullover taken for Coat: 234 times   the K-th most-confused pair
    {{ weights NAME }}            7,465                 trainable parameters
    {{ run_time NAME }}           51 s                  the run's wall time, as it recorded it
    {{ command_time NAME }}       20.0 min              the whole command's wall time
    {{ runs_time NAME }}          8.4 min               its runs' wall times added up
    {{ command NAME }}            python src/train.py model=cnn
    {{ machine NAME }}            AMD EPYC (family 25 model 1, AVX2), 2 cores (torch 2.14.1, 2 threads)
    {{ count NAME STATUS }}       7                     its runs that ended so (completed, pruned, failed)
    {{ pruned_at NAME EPOCH }}    11                    its trials pruned after that epoch
    {{ epochs NAME }}             106                   epochs its runs trained, pruned ones included
    {{ found_after NAME }}        29.0 min              when a run completed, from its command's start
    {{ printed NAME }}            what the command printed (stored with `printed: true`)
    {{ line NAME TEXT }}          the first line it printed that holds TEXT
    {{ section NAME HEADING }}    a stored report's section under that heading (less pictures)
    {{ table NAME HEADING }}      the first table of that section
    {{ summary NAME }}            a stored report's lines above its first section (less pictures)
    {{ report_line NAME TEXT }}   the first line of its report that holds TEXT (less "- ")
    {{ quote NAME HEADING }}      that section's first paragraph, quoted (each line begins "> ")

A placeholder written `\{{ ... }}` is shown as written, without the backslash.
NAME is a manifest entry (docs/figures/figures.yaml), with the path of one of its runs where it
has several: `cnn_seeds/0`, `lab/notebook-cnn/0`. Sections come from the entry's
sweep_report.md or lab_report.md. A name, path, class or heading that is not stored stops the
build with one sentence naming the placeholder.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable

import stored  # tools/, beside this file
from stored import FigureError

PLACEHOLDER = re.compile(
    r"(\\?)\{\{\s*(\w+)((?:\s+[^\s}]+)*)\s*\}\}"
)  # \{{ ... }}: shown as written


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.2f}%"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _class_f1(name: str, cls: str) -> str:
    per_class = stored.metrics(name)["test"]["f1_per_class"]
    if cls not in per_class:
        raise FigureError(f"'{name}' has no class '{cls}' (its classes: {', '.join(per_class)})")
    return f"{per_class[cls]:.3f}"


def _confused(name: str, true: str, predicted: str) -> str:
    matrix = stored.metrics(name)["confusion_matrix"]
    classes = matrix["classes"]
    for cls in (true, predicted):
        if cls not in classes:
            raise FigureError(f"'{name}' has no class '{cls}' (its classes: {', '.join(classes)})")
    return str(matrix["matrix"][classes.index(true)][classes.index(predicted)])


def _pair(name: str, k: str) -> str:
    pairs = stored.metrics(name)["most_confused"]
    if not k.isdigit() or not 1 <= int(k) <= len(pairs):
        raise FigureError(f"'{name}' stores {len(pairs)} most-confused pairs, not a pair '{k}'")
    return pairs[int(k) - 1]["text"]


def _machine(name: str) -> str:
    facts = stored.source(name)["machine"]
    device = f"{facts['gpu']}, " if facts.get("gpu") else ""
    model = ", ".join(
        filter(None, [facts.get("processor_model"), facts.get("vector_instructions")])
    )
    return (
        f"{device}{facts['processor']}{f' ({model})' if model else ''}, {facts['cores']} cores "
        f"(torch {facts['torch'].split('+')[0]}, {facts['torch_threads']} threads)"
    )


def _summary(name: str) -> str:
    _, lines = stored.report(name)
    body = lines[1:]  # below the title
    return _without_pictures(
        body[: next((i for i, line in enumerate(body) if line.startswith("#")), len(body))]
    )


def _without_pictures(lines: list[str]) -> str:
    """A report's lines less its pictures (docs/figures/ stores none of them)."""
    kept = [line for line in lines if not line.startswith("![")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()


def _report_line(name: str, *text: str) -> str:
    wanted = " ".join(text)
    report, lines = stored.report(name)
    found = [line.removeprefix("- ") for line in lines if wanted in line]
    if not found:
        raise FigureError(f"'{name}' has no line holding '{wanted}' in {report}")
    return found[0]


def _section(name: str, *heading: str) -> str:
    """The lines under a heading of the entry's report, up to the next heading as high or higher."""
    title = " ".join(heading)
    report, lines = stored.report(name)
    level_of = lambda line: len(line) - len(line.lstrip("#"))  # noqa: E731
    for i, line in enumerate(lines):
        if level_of(line) and line[level_of(line) :].strip() == title:
            after = [
                j for j in range(i + 1, len(lines)) if 0 < level_of(lines[j]) <= level_of(line)
            ]
            return _without_pictures(lines[i + 1 : after[0] if after else len(lines)])
    headings = [line.lstrip("#").strip() for line in lines if line.startswith("#")]
    raise FigureError(
        f"'{name}' has no section '{title}' in {report} (its sections: {'; '.join(headings)})"
    )


def _table(name: str, *heading: str) -> str:
    lines = _section(name, *heading).splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("|")), None)
    if start is None:
        raise FigureError(f"'{name}' has no table under '{' '.join(heading)}'")
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return "\n".join(lines[start:end])


def _line(name: str, *text: str) -> str:
    wanted = " ".join(text)
    found = [line.strip() for line in stored.printed(name).splitlines() if wanted in line]
    if not found:
        raise FigureError(f"'{name}' printed no line holding '{wanted}'")
    return found[0]


def _epochs(name: str) -> str:
    _, folder = stored.entry(name)
    trained = 0
    for status_file in folder.rglob("status.json"):
        status = json.loads(status_file.read_text())
        if status["status"] == "pruned":
            trained += status["epoch"]
        elif (status_file.parent / "metrics.json").is_file():
            trained += json.loads((status_file.parent / "metrics.json").read_text())["run"][
                "epochs"
            ]
    return str(trained)


def _found_after(name: str) -> str:
    _, folder = stored.entry(name)
    status = json.loads((folder / "status.json").read_text())
    return _duration(status["completed_unix"] - stored.source(name)["started_unix"])


def _runs_time(name: str) -> str:
    _, folder = stored.entry(name)
    times = [json.loads(p.read_text())["run"]["wall_time_s"] for p in folder.rglob("metrics.json")]
    return _duration(sum(times))


FACTS: dict[str, Callable[..., str]] = {
    "test_acc": lambda n: _percent(stored.metrics(n)["test"]["acc"]),
    "test_interval": lambda n: "{} ({:.2f}-{:.2f})".format(
        _percent(stored.metrics(n)["test"]["acc"]),
        *(100 * x for x in stored.metrics(n)["test"]["acc_interval"]),
    ),
    "mean_acc": lambda *names: _percent(
        sum(stored.metrics(n)["test"]["acc"] for n in names) / len(names)
    ),
    "val_acc": lambda n: f"{stored.metrics(n)['val']['acc']:.4f}",
    "f1": lambda n: f"{stored.metrics(n)['test']['f1_macro']:.4f}",
    "f1_interval": lambda n: "{:.4f} ({:.4f}-{:.4f})".format(
        stored.metrics(n)["test"]["f1_macro"], *stored.metrics(n)["test"]["f1_macro_interval"]
    ),
    "class_f1": _class_f1,
    "confused": _confused,
    "weakest": lambda n: stored.metrics(n)["weakest_class"]["name"],
    "pair": _pair,
    "weights": lambda n: f"{stored.metrics(n)['run']['parameters']:,}",
    "run_time": lambda n: _duration(stored.metrics(n)["run"]["wall_time_s"]),
    "command_time": lambda n: _duration(stored.source(n)["wall_s"]),
    "runs_time": _runs_time,
    "command": lambda n: stored.source(n)["command"],
    "machine": _machine,
    "count": lambda n, state: str(sum(s["status"] == state for s in stored.statuses(n))),
    "pruned_at": lambda n, epoch: str(
        sum(s.get("epoch") == int(epoch) for s in stored.statuses(n) if s["status"] == "pruned")
    ),
    "epochs": _epochs,
    "found_after": _found_after,
    "printed": stored.printed,
    "line": _line,
    "section": _section,
    "table": _table,
    "summary": _summary,
    "report_line": _report_line,
    "quote": lambda n, *heading: (
        "> " + _section(n, *heading).split("\n\n")[0].replace("\n", "\n> ")
    ),
}


def render(markdown: str, page: str = "") -> str:
    """Every placeholder of `markdown` replaced by its stored figure."""

    def figure(match: re.Match) -> str:
        escaped, fact, args = match.group(1), match.group(2), shlex.split(match.group(3))
        if escaped:
            return match.group(0)[1:]
        try:
            if fact not in FACTS:
                raise FigureError(f"'{fact}' is not a figure (figures: {', '.join(FACTS)})")
            return FACTS[fact](*args)
        except TypeError:
            raise FigureError(f"{page}: '{match.group(0)}' has the wrong number of words") from None
        except FigureError as e:
            raise FigureError(f"{page}: '{match.group(0)}': {e}.") from None

    return PLACEHOLDER.sub(figure, markdown)
