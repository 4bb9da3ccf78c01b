"""predict.py: users' pictures classified as the model classifies the dataset's tensors."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT, run_script, single_run_dir
from mnistlab.data.catalog import DATASETS, IDX_FILES
from mnistlab.data.idx import read_idx
from mnistlab.data.inputs import model_inputs
from mnistlab.errors import ConfigError
from mnistlab.models.build import load_trained_net
from mnistlab.tasks.predict import find_inputs
from mnistlab.training.checkpoints import read_checkpoint

COUNT = 120
pytestmark = pytest.mark.slow


def dataset_images(dataset: str, data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The first test images (uint8, as stored) and their labels."""
    raw = data_dir / DATASETS[dataset].folder / "raw"
    return read_idx(raw / IDX_FILES["test_images"])[:COUNT].copy(), read_idx(
        raw / IDX_FILES["test_labels"]
    )[:COUNT]


def tensor_predictions(checkpoint: Path, pixels: np.ndarray) -> list[str]:
    """What the model says on the dataset's own tensors: the reference."""
    net, data = load_trained_net(read_checkpoint(checkpoint), str(checkpoint))
    with torch.no_grad():
        scores = net(model_inputs(torch.from_numpy(pixels), data))
    return [data["class_names"][i] for i in scores.argmax(1).tolist()]


def write_pngs(folder: Path, pixels: np.ndarray, variant: str) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, image in enumerate(pixels):
        if variant == "inverted":  # dark ink on light paper
            image = 255 - image
        elif variant == "shifted":  # off-centre on a larger canvas, ink on paper
            canvas = np.full((48, 56), 255, np.uint8)
            top, left = rng.integers(0, 20), rng.integers(0, 28)
            canvas[top : top + 28, left : left + 28] = 255 - image
            image = canvas
        elif variant == "larger":  # a 4x scan
            image = np.asarray(Image.fromarray(image).resize((112, 112), Image.Resampling.BICUBIC))
        Image.fromarray(image).save(folder / f"{i:04d}.png")


def predicted(result_csv: Path) -> list[str]:
    with open(result_csv) as f:
        rows = sorted(csv.DictReader(f), key=lambda row: row["file"])
    return [row["predicted"] for row in rows]


def run_predict(tmp_path: Path, checkpoint: Path, inputs: Path, *args: str):
    output = tmp_path / "predictions.csv"
    result = run_script(
        "predict.py",
        f"ckpt_path={checkpoint}",
        f"inputs={inputs}",
        f"output={output}",
        *args,
        log_dir=tmp_path / "logs",
    )
    return result, output


AS_IS = ("preprocess.crop=false", "preprocess.resize=false", "preprocess.center=false")


@pytest.mark.parametrize("model", ["mnist", "hog"])
def test_dataset_images_as_png_get_exactly_the_tensor_predictions(
    tmp_path, trained, data_dir, model
):
    pixels, _ = dataset_images("mnist", data_dir)
    for variant in ("plain", "inverted"):  # the polarity is detected and undone
        write_pngs(tmp_path / variant, pixels, variant)
        result, output = run_predict(
            tmp_path / f"out-{variant}", trained[model], tmp_path / variant, *AS_IS
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert predicted(output) == tensor_predictions(trained[model], pixels)


@pytest.mark.parametrize("variant", ["shifted", "larger"])
def test_shifted_and_larger_pictures_go_through_mnists_recipe(tmp_path, trained, data_dir, variant):
    pixels, labels = dataset_images("mnist", data_dir)
    write_pngs(tmp_path / variant, pixels, variant)
    result, output = run_predict(tmp_path, trained["mnist"], tmp_path / variant, "save_inputs=true")
    assert result.returncode == 0, result.stderr[-2000:]
    ours, reference = predicted(output), tensor_predictions(trained["mnist"], pixels)
    agreement = np.mean([a == b for a, b in zip(ours, reference, strict=True)])
    accuracy = np.mean([a == str(int(b)) for a, b in zip(ours, labels, strict=True)])
    assert agreement >= 0.93 and accuracy >= 0.9, (agreement, accuracy)
    saved = sorted((single_run_dir(tmp_path / "logs", "predict") / "inputs").iterdir())
    assert len(saved) == COUNT and Image.open(saved[0]).size == (28, 28)


def test_a_fashion_checkpoint_names_its_classes(tmp_path, trained, data_dir):
    pixels, _ = dataset_images("fashion", data_dir)
    write_pngs(tmp_path / "photos", pixels[:20], "inverted")  # products on a white background
    result, output = run_predict(tmp_path, trained["fashion"], tmp_path / "photos", *AS_IS)
    assert result.returncode == 0, result.stderr[-2000:]
    names = predicted(output)
    assert names == tensor_predictions(trained["fashion"], pixels[:20])
    assert set(names) <= set(DATASETS["fashion"].class_names)
    assert names[0] in result.stdout


def test_broken_files_are_skipped_with_a_reason_and_the_rest_classified(
    tmp_path, trained, data_dir
):
    pixels, _ = dataset_images("mnist", data_dir)
    folder = tmp_path / "mixed"
    write_pngs(folder, pixels[:3], "plain")
    (folder / "empty.png").write_bytes(b"")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    (folder / "notes.txt").write_text("not a picture, and not an image suffix either")
    result, output = run_predict(tmp_path, trained["mnist"], folder)
    assert result.returncode == 2
    assert (
        "empty.png is empty" in result.stdout
        and "broken.jpg cannot be read as an image" in result.stdout
    )
    assert "2 of 5 input(s) skipped" in " ".join(result.stderr.split())
    assert predicted(output) == tensor_predictions(trained["mnist"], pixels[:3])
    assert "Traceback" not in result.stderr


def test_a_glob_with_no_match_or_a_folder_without_pictures_is_a_clear_error(tmp_path, trained):
    result, _ = run_predict(tmp_path, trained["mnist"], tmp_path / "nothing-*.png")
    assert result.returncode == 2 and "matches no file" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    with pytest.raises(ConfigError, match="holds no picture"):  # its subfolders are not searched
        find_inputs(str(ROOT / "examples"))


def test_the_drawn_examples_are_read_and_classified(tmp_path, trained):
    result, output = run_predict(tmp_path, trained["mnist"], ROOT / "examples" / "digits")
    assert result.returncode == 0, result.stderr[-2000:]
    drawn = sorted((ROOT / "examples" / "digits").glob("*.png"))  # digit-<label>[-variant].png
    right = sum(a == f.stem.split("-")[1] for a, f in zip(predicted(output), drawn, strict=True))
    assert right >= 8, predicted(output)  # a one-epoch MLP; the README's CNN reads all ten
