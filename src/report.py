"""Write one comparison report for a folder of runs (a sweep, or all of logs/):

    python src/report.py logs/train/multiruns/<time>
    python src/report.py logs
    python src/report.py <folder> compare.margin=0.2   ties within ±0.2 points called equivalent

Writes sweep_report.md, sweep_report.csv and sweep_val_loss.png into the folder. Copies and
reruns of one run (the same settings) count once, and the report says so.
"""

import sys

from mnistlab.launch.jobs import run_command


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2

    from mnistlab.reports.sweep_report import REPORT_MD, write_report
    from mnistlab.tasks.compare import split_arguments

    folders, margin = split_arguments(argv)
    if len(folders) != 1 or not folders[0].is_dir():
        given = " ".join(map(str, folders)) or "nothing"
        print(
            f"Error: give one folder of runs ({given} given): a sweep's folder "
            "(logs/train/multiruns/<time>) or logs.",
            file=sys.stderr,
        )
        return 2
    folder = folders[0]
    rows = write_report(folder, margin)
    if not rows:
        print(
            f"Error: no runs under {folder} (a run leaves metrics.json or status.json in its folder).",
            file=sys.stderr,
        )
        return 2
    print((folder / REPORT_MD).read_text())
    return 0


if __name__ == "__main__":
    run_command(lambda: main(sys.argv[1:]))
