"""Models, their weights (the lab's Question 2), the optimizer and the metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torchmetrics.classification import MulticlassConfusionMatrix

from conftest import need_fashion, train_config
from mnistlab.errors import ConfigError
from mnistlab.models.build import build_net
from mnistlab.models.cnn import CNN
from mnistlab.models.layers import initialize
from mnistlab.models.metrics import eval_metrics
from mnistlab.models.mlp import MLP
from mnistlab.reports.metrics import confused_pairs
from mnistlab.reports.params import breakdown_markdown, parameter_breakdown, total_parameters
from mnistlab.training.components import build_datamodule
from mnistlab.training.optim import KerasRMSprop


@pytest.mark.parametrize(
    ("overrides", "total"),
    [
        ((), 238_510),
        (("data=mnist-hog",), 80_610),
        (("model=cnn",), 7_465),
        (("model=cnn", "data=fashion"), 7_465),
    ],
    ids=["mlp-mnist", "mlp-mnist-hog", "cnn-mnist", "cnn-fashion"],
)
def test_default_models_have_the_notebooks_exact_parameter_counts(data_dir, overrides, total):
    if "data=fashion" in overrides:
        need_fashion()
    cfg = train_config(*overrides, data_dir=data_dir)
    dm = build_datamodule(cfg.data)
    net = build_net(cfg.model, dm.input_shape, dm.num_classes)
    assert total_parameters(net) == total
    rows = parameter_breakdown(net, dm.input_shape)
    assert sum(row.count for row in rows) == total


def test_breakdown_shows_the_arithmetic_of_each_layer():
    mlp_rows = parameter_breakdown(MLP((1, 28, 28), 10), (1, 28, 28))
    assert [r.arithmetic for r in mlp_rows if r.count] == [
        "784 x 300 + 300 = 235,500",
        "300 x 10 + 10 = 3,010",
    ]
    cnn_rows = parameter_breakdown(CNN((1, 28, 28), 10), (1, 28, 28))
    assert [r.arithmetic for r in cnn_rows if r.count] == [
        "5 x 5 x 1 x 9 + 9 = 234",
        "5 x 5 x 9 x 9 + 9 = 2,034",
        "3 x 3 x 9 x 16 + 16 = 1,312",
        "144 x 25 + 25 = 3,625",
        "25 x 10 + 10 = 260",
    ]
    assert [r.output_shape for r in cnn_rows if r.kind == "MaxPool2d"] == [
        (9, 14, 14),
        (9, 7, 7),
        (16, 3, 3),
    ]
    markdown = breakdown_markdown(cnn_rows, 7465, (1, 28, 28))
    assert "234 + 2,034 + 1,312 + 3,625 + 260 = **7,465**" in markdown


def test_mlp_layers_and_dropout_follow_the_config():
    net = MLP((392,), 10, hidden=[500, 100], dropout=0.3, activation="tanh")
    kinds = [type(m).__name__ for m in net]
    assert kinds == ["Flatten", "Linear", "Tanh", "Dropout", "Linear", "Tanh", "Dropout", "Linear"]
    assert total_parameters(net) == 392 * 500 + 500 + 500 * 100 + 100 + 100 * 10 + 10


def test_keras_initialisation_is_glorot_uniform_with_zero_biases():
    torch.manual_seed(0)
    net = MLP((1, 28, 28), 10)
    initialize(net, "keras")
    first = net[1]
    limit = (6 / (784 + 300)) ** 0.5
    assert torch.all(first.bias == 0)
    assert float(first.weight.detach().abs().max()) <= limit
    assert float(first.weight.detach().abs().max()) > 0.95 * limit  # spread over the whole range
    torch.manual_seed(0)
    default = MLP((1, 28, 28), 10)
    initialize(default, "torch")
    assert not torch.all(default[1].bias == 0)


def test_keras_rmsprop_follows_tensorflows_update_with_epsilon_inside_the_root():
    weights = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    param = nn.Parameter(weights.clone())
    optimizer = KerasRMSprop([param])  # Keras' defaults
    grads = [
        np.array([0.1, -0.2, 1e-5, 0.0]),
        np.array([0.3, 0.1, -2e-5, 1e-6]),
        np.array([-0.1, 0.0, 1e-5, 0.0]),
    ]
    w, ms = weights.numpy().copy(), np.zeros(4)
    for g in grads:
        param.grad = torch.from_numpy(g.copy())
        optimizer.step()
        ms = 0.9 * ms + 0.1 * g * g
        w = w - 1e-3 * g / np.sqrt(ms + 1e-7)
    np.testing.assert_allclose(param.detach().numpy(), w, rtol=0, atol=1e-15)

    torch_param = nn.Parameter(weights.clone())
    torch_optimizer = torch.optim.RMSprop([torch_param], lr=1e-3, alpha=0.9, eps=1e-7)
    for g in grads:
        torch_param.grad = torch.from_numpy(g.copy())
        torch_optimizer.step()
    # PyTorch adds epsilon outside the root: tiny gradients take much bigger steps there.
    assert abs(float((torch_param[2] - param[2]).detach())) > 1e-4


@pytest.mark.parametrize(
    ("momentum", "centered"), [(0.0, False), (0.9, False), (0.0, True), (0.5, True)]
)
def test_keras_rmsprop_follows_the_keras_equations_over_20_steps(momentum, centered):
    """Keras' RMSprop (plain, momentum, centred), computed independently in float64 with numpy."""
    rng = np.random.default_rng(0)
    lr, rho, eps = 0.01, 0.9, 1e-7
    start = rng.normal(size=6)
    grads = [rng.normal(scale=10.0 ** rng.integers(-6, 1), size=6) for _ in range(20)]
    param = nn.Parameter(torch.tensor(start, dtype=torch.float64))
    optimizer = KerasRMSprop([param], lr=lr, rho=rho, eps=eps, momentum=momentum, centered=centered)
    w, velocity, average, moment = start.copy(), np.zeros(6), np.zeros(6), np.zeros(6)
    for g in grads:
        param.grad = torch.tensor(g)
        optimizer.step()
        velocity = rho * velocity + (1 - rho) * g**2
        denominator = velocity + eps
        if centered:
            average = rho * average + (1 - rho) * g
            denominator = velocity - average**2 + eps
        increment = lr * g / np.sqrt(denominator)
        if momentum:
            moment = momentum * moment + increment
            w = w - moment
        else:
            w = w - increment
    np.testing.assert_allclose(param.detach().numpy(), w, rtol=0, atol=1e-6)


def test_a_cnn_on_hog_vectors_is_rejected_with_one_clear_sentence():
    with pytest.raises(ConfigError) as error:
        CNN((392,), 10)
    message = str(error.value)
    assert "model=cnn needs images" in message and "392 features" in message
    assert "model=mlp" in message


def test_cnn_variants_change_the_weights_as_expected():
    doubled = CNN((1, 28, 28), 10, filters=[18, 18, 32], dense=[100])
    expected = (
        (25 * 18 + 18)
        + (25 * 18 * 18 + 18)
        + (9 * 18 * 32 + 32)
        + (32 * 9 * 100 + 100)
        + (100 * 10 + 10)
    )
    assert total_parameters(doubled) == expected
    assert doubled(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_metrics_on_hand_made_predictions():
    # 3 classes; true labels and predictions chosen so every number can be checked by hand.
    y = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 2])
    predicted = torch.tensor([0, 0, 1, 1, 2, 2, 2, 2, 0, 0])
    logits = torch.nn.functional.one_hot(predicted, 3).float()
    metrics = eval_metrics(3)
    metrics.update(logits[:4], y[:4])
    metrics.update(logits[4:], y[4:])
    result = metrics.compute()
    confusion = MulticlassConfusionMatrix(3)  # as the run's recorder counts the test predictions
    confusion.update(predicted, y)
    assert confusion.compute().tolist() == [[2, 1, 0], [0, 1, 1], [2, 0, 3]]
    assert float(result["acc"]) == pytest.approx(6 / 10)
    # F1 = 2TP / (2TP + FP + FN): class 0: 4/(4+2+1), class 1: 2/(2+1+1), class 2: 6/(6+1+2)
    expected = [4 / 7, 2 / 4, 6 / 9]
    assert result["f1"].tolist() == pytest.approx(expected)
    assert float(result["f1_macro"]) == pytest.approx(sum(expected) / 3)
    pairs = confused_pairs(confusion.compute(), ["zero", "one", "two"], top=5)
    assert [p.sentence() for p in pairs] == [
        "two taken for zero: 2 times",
        "zero taken for one: 1 time",
        "one taken for two: 1 time",
    ]


@pytest.mark.parametrize(
    ("overrides", "optimizer", "scheduler"),
    [
        ((), KerasRMSprop, None),
        (
            ("optimizer=adam", "scheduler=cosine"),
            torch.optim.Adam,
            torch.optim.lr_scheduler.CosineAnnealingLR,
        ),
        (("optimizer=sgd", "scheduler=step"), torch.optim.SGD, torch.optim.lr_scheduler.StepLR),
        (("optimizer=rmsprop_torch",), torch.optim.RMSprop, None),
    ],
)
def test_optimizer_and_schedule_are_one_override_away(overrides, optimizer, scheduler):
    from mnistlab.config.instantiate import make
    from mnistlab.models.classifier import Classifier

    cfg = train_config(*overrides)
    module = Classifier(
        MLP((1, 28, 28), 10),
        optimizer=make(cfg.optimizer),
        scheduler=make(cfg.scheduler) if cfg.scheduler else None,
        class_names=[str(i) for i in range(10)],
    )
    configured = module.configure_optimizers()
    if scheduler is None:
        assert type(configured) is optimizer
    else:
        assert type(configured["optimizer"]) is optimizer
        assert type(configured["lr_scheduler"]["scheduler"]) is scheduler
    if optimizer is KerasRMSprop:
        group = configured.param_groups[0]
        assert (group["lr"], group["rho"], group["eps"], group["momentum"]) == (
            1e-3,
            0.9,
            1e-7,
            0.0,
        )


def test_the_module_refuses_several_minibatches_in_lightnings_automatic_optimization():
    """Lightning would backpropagate one minibatch while the step trained several: the module
    itself refuses, whatever its caller decided."""
    from mnistlab.data.batches import StepMinibatches, TrainBatches
    from mnistlab.models.classifier import Classifier

    x, y = torch.rand(512, 1, 28, 28), torch.randint(0, 10, (512,))
    loader = TrainBatches(x, y, batch_size=128, minibatches_per_step=4)
    (step,) = list(loader)
    assert isinstance(step, StepMinibatches) and len(step) == 4
    module = Classifier(MLP((1, 28, 28), 10), optimizer=None, class_names=list("0123456789"))
    assert module.automatic_optimization  # minibatches_per_step=1
    with pytest.raises(RuntimeError, match="got 4 minibatches in Lightning's automatic"):
        module.training_step(step, 0)
    assert loader.position == 0  # refused before any minibatch was taken
