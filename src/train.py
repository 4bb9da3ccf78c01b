"""Train a classifier and answer the lab's questions for it:

python src/train.py model=cnn data=fashion
python src/train.py -m experiment=<name>       (a sweep, with one report at the end)
"""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from mnistlab.launch.jobs import run_job


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | list[float] | str | None:
    from mnistlab.runs.cache import same_run_completed

    def task() -> dict:
        from mnistlab.tasks.train import train  # torch and Lightning load only to train

        return train(cfg)

    return run_job(task, Path(cfg.paths.output_dir), lambda: same_run_completed(cfg))


if __name__ == "__main__":
    main()
