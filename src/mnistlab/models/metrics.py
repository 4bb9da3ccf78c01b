"""The metrics a classifier reports on validation and test data, and their names in logs."""

from __future__ import annotations

from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score


def metric_tag(class_name: str) -> str:
    """A class name usable in a metric's name ('T-shirt/top' -> 'T-shirt-top')."""
    return class_name.replace("/", "-").replace(" ", "_")


def eval_metrics(num_classes: int) -> MetricCollection:
    return MetricCollection(
        {
            "acc": MulticlassAccuracy(num_classes, average="micro"),
            "f1_macro": MulticlassF1Score(num_classes, average="macro"),
            "f1": MulticlassF1Score(num_classes, average=None),
        }
    )
