"""The lab's Question 2 without training: each layer's weights, their arithmetic and the total.

python src/summary.py model=cnn data=mnist
python src/summary.py data=mnist-hog data.hog.pixels_per_cell=7
"""

import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

from mnistlab.errors import UserError

CONF = Path(__file__).resolve().parent.parent / "conf"


def main(overrides: list[str]) -> None:
    if {"-h", "--help"} & set(overrides):
        print(__doc__)
        return
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)

    from mnistlab.training import build_datamodule, build_net, describe_run, show_breakdown

    try:
        datamodule = build_datamodule(cfg.data)
        net = build_net(cfg.model, datamodule.input_shape, datamodule.num_classes)
    except UserError as e:
        sys.exit(f"Error: {e}")
    print(describe_run(cfg, net))
    show_breakdown(net, datamodule.input_shape, out_dir=None)


if __name__ == "__main__":
    main(sys.argv[1:])
