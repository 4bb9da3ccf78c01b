"""The lab's Question 2 without training: each layer's weights, their arithmetic and the total.

python src/summary.py model=cnn data=mnist
python src/summary.py data=mnist-hog data.hog.pixels_per_cell=7
"""

import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from mnistlab.errors import UserError

CONF = Path(__file__).resolve().parent.parent / "conf"


def main(overrides: list[str]) -> None:
    if {"-h", "--help"} & set(overrides):
        print(__doc__)
        return
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)

    from mnistlab.config.instantiate import make
    from mnistlab.models.build import build_net
    from mnistlab.reports.params import breakdown_table, parameter_breakdown, total_parameters
    from mnistlab.runs.describe import describe
    from mnistlab.terminal import console

    try:
        datamodule = make(cfg.data, "data")
        datamodule.prepare_data()
        datamodule.setup()
        net = build_net(cfg.model, datamodule.input_shape, datamodule.num_classes)
    except UserError as e:
        sys.exit(f"Error: {e}")
    shape = datamodule.input_shape
    parts = {key: OmegaConf.to_container(cfg[key], resolve=True) for key in ("data", "model")}
    console.print(describe(parts))
    console.print(breakdown_table(parameter_breakdown(net, shape), total_parameters(net), shape))


if __name__ == "__main__":
    main(sys.argv[1:])
