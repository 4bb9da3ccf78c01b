"""A page to draw a digit (or upload a picture) and watch a trained model read it:

python src/demo.py                      # the newest completed run; every other one on the page
python src/demo.py ckpt_path=logs/train/runs/<time>/checkpoints/best.ckpt port=7860
"""

import hydra
from omegaconf import DictConfig

from mnistlab.launch.jobs import run_command


@hydra.main(version_base="1.3", config_path="../conf", config_name="demo")
def main(cfg: DictConfig) -> None:
    from mnistlab.tasks.demo import demo

    run_command(lambda: demo(cfg))


if __name__ == "__main__":
    main()
