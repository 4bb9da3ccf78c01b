"""Answer the whole lab in one document, from real runs:

python src/lab.py                 (runs what logs/ lacks, then writes logs/lab/<time>/lab_report.*)
python src/lab.py lab.epochs=2    (a quick preview)
"""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from mnistlab.launch.jobs import run_command

TRAIN_SCRIPT = Path(__file__).with_name("train.py")


@hydra.main(version_base="1.3", config_path="../conf", config_name="lab")
def main(cfg: DictConfig) -> None:
    from mnistlab.tasks.lab import lab  # the report's libraries load only when the lab starts

    run_command(lambda: lab(cfg, TRAIN_SCRIPT))


if __name__ == "__main__":
    main()
