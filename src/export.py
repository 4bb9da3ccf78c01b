"""Write a trained model as ONNX, for places without this project, torch or Lightning:

python src/export.py ckpt_path=last
python src/export.py ckpt_path=logs/train/runs/<time>/checkpoints/best.ckpt output=digits.onnx
"""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from mnistlab.launch.jobs import run_job


@hydra.main(version_base="1.3", config_path="../conf", config_name="export")
def main(cfg: DictConfig) -> None:
    from mnistlab.tasks.export import export

    run_job(lambda: export(cfg), Path(cfg.paths.output_dir))


if __name__ == "__main__":
    main()
