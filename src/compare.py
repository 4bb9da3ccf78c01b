"""Is one model better than another, or is the difference noise? Paired tests on the same examples.

    python src/compare.py <run> <run>            two runs (each a folder under logs/train/runs/)
    python src/compare.py <run> <run> <run> ...  the first against each of the others
    python src/compare.py <sweep folder>         every variant against the best on validation
    python src/compare.py ... --split val        on the validation images instead of the test set
    python src/compare.py ... compare.margin=0.2 a tie whose whole interval lies within ±0.2
                                                 points is called equivalent

For each pair: the difference in accuracy with its 95% interval (a paired bootstrap over the
examples), McNemar's exact p-value (from the examples only one of the two gets right) and a
verdict. In a sweep, runs that differ only in their seed are one variant, compared over seeds:
the seeds and the examples both counted, each seed's own test, and P(B > A), the chance that a
run of B beats one of A. Copies of a run (the same settings) count once. Several pairs tested
together get Holm's correction.
"""

import argparse

from mnistlab.launch.jobs import run_command


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument(
        "paths", nargs="+", help="run folders, or one sweep folder; compare.margin=<points>"
    )
    parser.add_argument("--split", choices=("test", "val"), default="test")
    args = parser.parse_args()

    from mnistlab.tasks.compare import compare_command

    return compare_command(args.paths, args.split)


if __name__ == "__main__":
    run_command(main)
