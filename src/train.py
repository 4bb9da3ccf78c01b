"""Train a classifier and answer the lab's questions for it:

python src/train.py model=cnn data=fashion
python src/train.py -m experiment=<name>       (a sweep)
"""

import hydra
from omegaconf import DictConfig

from mnistlab.cli import run_guarded


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float:
    from mnistlab.training import train  # torch and Lightning load only when a run starts

    return run_guarded(lambda: train(cfg))["test"]["acc"]


if __name__ == "__main__":
    main()
