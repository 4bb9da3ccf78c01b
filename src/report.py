"""Write one comparison report for a folder of runs (a sweep, or all of logs/):

    python src/report.py logs/train/multiruns/<time>
    python src/report.py logs

Writes sweep_report.md, sweep_report.csv and sweep_val_loss.png into the folder.
"""

import sys
from pathlib import Path

from mnistlab.analysis.sweep_report import REPORT_MD, write_report


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    folder = Path(argv[0])
    if not folder.is_dir():
        print(
            f"Error: {folder} is not a folder. Give a sweep's folder (logs/train/multiruns/<time>) or logs.",
            file=sys.stderr,
        )
        return 2
    rows = write_report(folder)
    if not rows:
        print(
            f"Error: no runs under {folder} (a run leaves metrics.json or status.json in its folder).",
            file=sys.stderr,
        )
        return 2
    print((folder / REPORT_MD).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
