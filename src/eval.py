"""Score a saved model on the test set and write the same files as training:

python src/eval.py ckpt_path=logs/train/runs/<time>/checkpoints/last.ckpt
"""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from mnistlab.launch.jobs import run_job


@hydra.main(version_base="1.3", config_path="../conf", config_name="eval")
def main(cfg: DictConfig) -> float | None:
    from mnistlab.tasks.evaluate import evaluate

    return run_job(lambda: evaluate(cfg), Path(cfg.paths.output_dir))


if __name__ == "__main__":
    main()
