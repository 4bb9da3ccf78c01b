"""Classify your own pictures with a trained model:

python src/predict.py ckpt_path=logs/train/runs/<time>/checkpoints/last.ckpt inputs=examples/
python src/predict.py ckpt_path=last inputs='photos/*.jpg' save_inputs=true
"""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from mnistlab.launch.jobs import run_job


@hydra.main(version_base="1.3", config_path="../conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    from mnistlab.tasks.predict import predict

    run_job(lambda: predict(cfg), Path(cfg.paths.output_dir))


if __name__ == "__main__":
    main()
