"""The pictures of a run folder: the mistakes of the most-confused pairs, where the model looked
(captum), and for CNNs the first layer's kernels and each convolution's feature maps."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

from conftest import ROOT, TINY, read_metrics, run_script, single_run_dir
from mnistlab.data.hog import HogParams
from mnistlab.models.build import build_net, load_trained_net
from mnistlab.reports.attributions import attribution_maps, hog_cell_maps
from mnistlab.training.checkpoints import read_checkpoint
from mnistlab.training.components import build_datamodule
from mnistlab.training.recorder import RunRecorder

RUNS = {"hog-mlp": ("data=mnist-hog",), "cnn": ("model=cnn",)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir) -> dict:
    folders = {}
    for name, overrides in RUNS.items():
        log_dir = tmp_path_factory.mktemp(name)
        result = run_script("train.py", *TINY, *overrides, log_dir=log_dir)
        assert result.returncode == 0, result.stderr[-3000:]
        folders[name] = single_run_dir(log_dir)
    return folders


def predictions(run_dir, indices: list[int]) -> torch.Tensor:
    """The run's tested network (last.ckpt, the default test_weights) on those test images."""
    checkpoint = read_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    net, _ = load_trained_net(checkpoint, "last.ckpt")
    data_cfg = OmegaConf.create(checkpoint["hyper_parameters"]["config"]).data
    test = build_datamodule(data_cfg).tensors
    with torch.no_grad():
        return torch.softmax(net(test["test_x"][indices]), 1), test["test_y"][indices]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(RUNS))
def test_the_mistakes_shown_are_real_mistakes_of_the_most_confused_pairs(runs, name):
    run_dir = runs[name]
    metrics = read_metrics(run_dir)
    rows, classes = metrics["mistakes"], metrics["confusion_matrix"]["classes"]
    shown_pairs = list(dict.fromkeys((classes[r["true"]], classes[r["predicted"]]) for r in rows))
    top3 = [(p["true"], p["predicted"]) for p in metrics["most_confused"][:3]]
    assert shown_pairs == top3
    assert all(1 <= sum(1 for r in rows if (r["true"], r["predicted"]) == (t, p)) <= 6
               for t, p in ((classes.index(a), classes.index(b)) for a, b in top3))  # fmt: skip
    probabilities, labels = predictions(run_dir, [r["index"] for r in rows])
    assert labels.tolist() == [r["true"] for r in rows]
    assert probabilities.argmax(1).tolist() == [r["predicted"] for r in rows]
    assert all(r["true"] != r["predicted"] for r in rows)
    assert probabilities.max(1).values.tolist() == pytest.approx(
        [r["probability"] for r in rows], abs=1e-3
    )


PICTURES = {
    "hog-mlp": {"mistakes.png": (6, 3), "attributions.png": (6, 2)},
    "cnn": {
        "mistakes.png": (6, 3),
        "attributions.png": (6, 2),
        "filters.png": (9, 1),
        "feature_maps.png": (1 + 3 * 4, 10),
    },
}  # fmt: skip  file: (columns, rows) of pictures, each about 1 inch at 100 dpi


@pytest.mark.slow
@pytest.mark.parametrize("name", list(RUNS))
def test_the_pictures_are_written_reported_and_logged_at_the_final_step(runs, name):
    run_dir = runs[name]
    written = sorted(p.name for p in run_dir.glob("*.png"))
    assert written == sorted(["curves.png", "confusion_matrix.png", *PICTURES[name]])
    report = (run_dir / "report.md").read_text()
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    final_step = read_metrics(run_dir)["run"]["optimizer_steps"]
    for file, (columns, rows) in PICTURES[name].items():
        with Image.open(run_dir / file) as picture:
            assert picture.format == "PNG"
            width, height = picture.size
        assert width >= columns * 90 and height >= rows * 90, (file, picture.size)
        assert f"]({file})" in report
        (image,) = events.Images(f"test/{file.removesuffix('.png')}")
        assert image.step == final_step and (image.width, image.height) == (width, height)


@pytest.mark.slow
def test_eval_shows_the_same_mistakes_as_the_training_run(runs, tmp_path):
    run_dir = runs["hog-mlp"]
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    result = run_script("eval.py", f"ckpt_path={checkpoint}", log_dir=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    evaluated = single_run_dir(tmp_path, task="eval")
    assert (evaluated / "mistakes.png").is_file()
    assert read_metrics(evaluated)["mistakes"] == read_metrics(run_dir)["mistakes"]


def test_hog_attributions_land_on_the_pixels_of_their_cell():
    hog = HogParams(orientations=8, pixels_per_cell=7, cells_per_block=2)  # 3 x 3 blocks of 2 x 2
    attr = torch.zeros(1, 3, 3, 2, 2, 8)
    attr[0, 1, 2, 1, 0, 5] = 2.0  # block (1, 2), its lower-left cell: cell (2, 2)
    attr[0, 0, 0, 0, 0, :] = 0.5  # block (0, 0), its upper-left cell (0, 0), all orientations
    maps = hog_cell_maps(attr.reshape(1, -1), hog, (28, 28))[0]
    assert maps[14:21, 14:21].eq(2.0).all() and maps[0:7, 0:7].eq(4.0).all()
    assert maps.sum() == 2.0 * 49 + 4.0 * 49


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_attributions_follow_the_model(data_dir, model):
    """Integrated gradients add up to the change of the chosen class's score from a black image
    (their completeness property); Grad-CAM maps are image-sized and non-negative."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[f"model={model}"])
    torch.manual_seed(0)
    datamodule = build_datamodule(cfg.data)
    net = build_net(cfg.model, datamodule.input_shape, datamodule.num_classes).eval()
    x, targets = datamodule.tensors["test_x"][:4], torch.tensor([3, 1, 4, 1])
    maps, method = attribution_maps(net, x, targets, (28, 28))
    assert maps.shape == (4, 28, 28) and torch.isfinite(maps).all()
    if model == "cnn":
        assert method.startswith("Grad-CAM") and (maps >= 0).all() and maps.sum() > 0
    else:
        with torch.no_grad():
            change = (net(x) - net(torch.zeros_like(x)))[torch.arange(4), targets]
        assert maps.sum((1, 2)).tolist() == pytest.approx(change.tolist(), abs=2e-3)


def test_pictures_that_cannot_be_drawn_cost_the_pictures_not_the_results(caplog):
    recorder = RunRecorder(["0", "1"], "a run")
    recorder.test = {"acc": 0.5}
    no_test_split = SimpleNamespace(tensors={}, hog=None)  # a datamodule that was never set up
    with caplog.at_level(logging.DEBUG, logger="mnistlab"):
        recorder._draw_pictures(no_test_split, SimpleNamespace(net=nn.Linear(2, 2)), torch.eye(2))
    assert recorder.pictures == {} and recorder.test == {"acc": 0.5}
    warning = next(r for r in caplog.records if r.levelno == logging.WARNING)
    assert "Could not draw the run's pictures (KeyError: 'test_x')" in warning.getMessage()
    assert any(r.exc_info for r in caplog.records if r.levelno == logging.DEBUG)


def test_pictures_are_ready_to_paste(tmp_path):
    """Whole epochs on the curves (a one-epoch run: one tick, the values written), a colour
    scale said in words and every count (zeros too) on the confusion matrix, 150 dpi."""
    from mnistlab.reports.plots import DPI, confusion_figure, curves_figure, save_figure

    one = [{"epoch": 1, "train/loss": 0.5, "val/loss": 0.4, "train/acc": 0.9, "val/acc": 0.92}]
    curves = curves_figure(one, "one epoch")
    for ax in curves.axes:
        assert list(ax.get_xticks()) == [1] and ax.get_xlim() == (0.5, 1.5)
    assert {t.get_text() for ax in curves.axes for t in ax.texts} == {
        "0.5000", "0.4000", "0.9000", "0.9200"
    }  # fmt: skip
    ten = [{**one[0], "epoch": e} for e in range(1, 11)]
    assert list(curves_figure(ten, "ten").axes[0].get_xticks()) == list(range(1, 11))

    matrix = [[5, 0], [2, 1000]]
    confusion = confusion_figure(matrix, ["a", "b"], "two classes")
    grid, bar = confusion.axes
    assert sorted(t.get_text() for t in grid.texts) == ["0", "1000", "2", "5"]
    assert "log scale" in bar.get_ylabel()
    save_figure(confusion, tmp_path / "confusion.png")
    with Image.open(tmp_path / "confusion.png") as picture:
        assert round(picture.info["dpi"][0]) == DPI >= 150


def test_a_cnns_pictures_have_colour_scales_and_layers_named_as_a_student_reads_them(data_dir):
    from mnistlab.reports.cnn_pictures import feature_maps_figure, filters_figure
    from mnistlab.reports.params import parameter_breakdown

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["model=cnn"])
    net = build_net(cfg.model, (1, 28, 28), 10).eval()
    names = [row.name for row in parameter_breakdown(net, (1, 28, 28))]
    assert names == [
        "Conv 1 (9 filters 5x5)", "Max pool 1", "Conv 2 (9 filters 5x5)", "Max pool 2",
        "Conv 3 (16 filters 3x3)", "Max pool 3", "Flatten 1", "Dense 1 (25 units)",
        "Dense 2 (10 units)",
    ]  # fmt: skip
    filters = filters_figure(net, "the lab's CNN")
    assert [ax.get_ylabel() for ax in filters.axes][-1] == "weight"  # the colour bar
    x = torch.rand(2, 1, 28, 28)
    maps = feature_maps_figure(net, x, (x[:, 0] * 255), ["0", "1"], "two images")
    bars = [ax.get_xlabel() for ax in maps.axes if ax.get_xlabel()]
    assert bars == ["Conv 1 output", "Conv 2 output", "Conv 3 output"]
    from mnistlab.reports.attributions import attributions_figure

    rows = [{"index": 0, "true": 1, "predicted": 0}]
    figure = attributions_figure(x[:, 0] * 255, torch.rand(1, 28, 28), rows, ["0", "1"], "t", "m")
    labels = [ax.get_ylabel() for ax in figure.axes if ax.get_ylabel()]
    assert labels == ["the image\n(true → taken for)", "where it pointed to\nthe wrong class"]
