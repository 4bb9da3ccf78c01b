"""Score a saved model on the test set and write the same files as training:

python src/eval.py ckpt_path=logs/train/runs/<time>/checkpoints/last.ckpt
"""

import hydra
from omegaconf import DictConfig

from mnistlab.cli import run_guarded


@hydra.main(version_base="1.3", config_path="../conf", config_name="eval")
def main(cfg: DictConfig) -> float:
    from mnistlab.training import evaluate

    return run_guarded(lambda: evaluate(cfg))["test"]["acc"]


if __name__ == "__main__":
    main()
