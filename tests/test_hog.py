"""HOG features: scikit-image's numbers, the right lengths, and a cache that is reused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.feature import hog

from conftest import need_fashion
from mnistlab.data.catalog import DATASETS, IDX_FILES
from mnistlab.data.datamodule import MnistFamilyDataModule
from mnistlab.data.hog import HogParams, cached_hog, hog_features
from mnistlab.data.idx import read_idx


def sample_images(data_dir, name: str) -> np.ndarray:
    if name == "fashion":
        need_fashion()
    raw = data_dir / DATASETS[name].folder / "raw"
    return read_idx(raw / IDX_FILES["test_images"])[:300].copy()


@pytest.fixture(scope="module")
def images(data_dir) -> dict[str, np.ndarray]:
    return {"mnist": sample_images(data_dir, "mnist")}


@pytest.mark.parametrize("orientations", [4, 8, 14])
@pytest.mark.parametrize(("pixels_per_cell", "cells"), [(4, 7), (7, 4), (8, 3), (10, 2)])
def test_feature_length_counts_whole_cells_only(images, orientations, pixels_per_cell, cells):
    params = HogParams(orientations=orientations, pixels_per_cell=pixels_per_cell)
    features = hog_features(torch.from_numpy(images["mnist"][:4]), params)
    assert features.shape == (4, cells * cells * orientations)
    assert params.feature_length(28) == cells * cells * orientations


def test_lengths_at_8_orientations_are_392_128_72_32(images):
    lengths = [
        hog_features(torch.from_numpy(images["mnist"][:1]), HogParams(8, p)).shape[1]
        for p in (4, 7, 8, 10)
    ]
    assert lengths == [392, 128, 72, 32]


@pytest.mark.parametrize("dataset", ["mnist", "fashion"])
@pytest.mark.parametrize(
    "params",
    [
        HogParams(8, 4),
        HogParams(4, 4),
        HogParams(14, 4),
        HogParams(4, 7),
        HogParams(8, 7),
        HogParams(14, 7),
        HogParams(8, 8),
        HogParams(9, 4, 2),
        HogParams(8, 4, 1, "L1"),
        HogParams(8, 4, 1, "L2"),
        HogParams(8, 4, 1, "L1-sqrt"),
    ],
    ids=lambda p: p.slug(),
)
def test_features_equal_scikit_image_on_real_images(data_dir, dataset, params):
    batch = sample_images(data_dir, dataset)
    ours = hog_features(torch.from_numpy(batch), params).numpy()
    reference = np.stack(
        [
            hog(
                image / 255.0,
                orientations=params.orientations,
                pixels_per_cell=(params.pixels_per_cell,) * 2,
                cells_per_block=(params.cells_per_block,) * 2,
                block_norm=params.block_norm,
            )
            for image in batch
        ]
    )
    assert ours.shape == reference.shape
    np.testing.assert_allclose(ours, reference, atol=1e-5, rtol=0)


def test_the_cache_is_written_once_and_reused(tmp_path, images):
    splits = {"test": torch.from_numpy(images["mnist"])}
    params = HogParams(8, 4)
    first = cached_hog(tmp_path, "mnist", params, splits)
    (path,) = tmp_path.iterdir()
    written = path.stat().st_mtime_ns
    second = cached_hog(tmp_path, "mnist", params, splits)
    assert path.stat().st_mtime_ns == written
    assert torch.equal(first["test"], second["test"])


def test_a_damaged_cache_is_computed_again(tmp_path, images):
    splits = {"test": torch.from_numpy(images["mnist"][:50])}
    params = HogParams(8, 7)
    expected = cached_hog(tmp_path, "mnist", params, splits)["test"]
    (path,) = tmp_path.iterdir()
    path.write_bytes(path.read_bytes()[:100])
    assert torch.equal(cached_hog(tmp_path, "mnist", params, splits)["test"], expected)
    assert path.stat().st_size > 1000


def test_hog_datamodule_gives_feature_vectors_and_fashion_is_one_override_away(data_dir):
    need_fashion()
    for dataset in ("mnist", "fashion"):
        dm = MnistFamilyDataModule(
            data_dir=str(data_dir), dataset=dataset, hog={"orientations": 8, "pixels_per_cell": 4}
        )
        dm.prepare_data()
        dm.setup()
        assert dm.input_shape == (392,)
        x = next(iter(dm.train_dataloader())).x
        assert x.shape == (128, 392) and x.dtype == torch.float32
    assert (data_dir / "hog" / f"fashion-{HogParams(8, 4).slug()}.pt").is_file()
