"""Hyperspectral scores (OA, AA, kappa, per class), batched scene prediction and the classification map."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import cohen_kappa_score, confusion_matrix

from convzoo.data.hyperspectral import SceneSettings, load_hyperspectral, write_synthetic_scene
from convzoo.tasks.hyperspectral.classification_map import classification_map_figure, plot_classification_map
from convzoo.tasks.hyperspectral.metrics import cohen_kappa, scene_scores
from convzoo.tasks.hyperspectral.objective import HyperspectralTask
from convzoo.tasks.hyperspectral.prediction import predict_pixels, predict_scene


def test_kappa_equals_scikit_learns():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 5, 300)
    predicted = np.where(rng.random(300) < 0.7, truth, rng.integers(0, 5, 300))
    confusion = torch.from_numpy(confusion_matrix(truth, predicted, labels=range(5)))
    assert cohen_kappa(confusion) == pytest.approx(cohen_kappa_score(truth, predicted), abs=1e-12)
    assert cohen_kappa(torch.eye(3) * 4) == 1.0
    assert cohen_kappa(torch.tensor([[5.0, 0.0], [0.0, 0.0]])) == 1.0  # one class, all right


def test_overall_and_average_accuracy_and_per_class():
    # class 0: 8 of 10 right; class 1: 1 of 2; class 2: never seen in the test pixels
    confusion = torch.tensor([[8, 2, 0], [1, 1, 0], [0, 0, 0]])
    scores = scene_scores(confusion)
    assert scores["overall_accuracy"] == pytest.approx(9 / 12)
    assert scores["per_class_accuracy"] == [0.8, 0.5, None]
    assert scores["average_accuracy"] == pytest.approx((0.8 + 0.5) / 2)  # over the classes present


def test_batch_sums_add_up_to_the_whole_confusion_matrix():
    task = HyperspectralTask(4)
    torch.manual_seed(0)
    logits, targets = torch.randn(50, 4), torch.randint(0, 4, (50,))
    whole = task.batch_sums(logits, targets)["confusion"]
    parts = sum(task.batch_sums(logits[s], targets[s])["confusion"] for s in (slice(0, 20), slice(20, None)))
    assert torch.equal(whole, parts)
    reference = confusion_matrix(targets.numpy(), logits.argmax(1).numpy(), labels=range(4))
    np.testing.assert_array_equal(whole.long().numpy(), reference)
    metrics = task.summarize({"confusion": whole}, 50)
    assert metrics["accuracy"] == pytest.approx((logits.argmax(1) == targets).float().mean().item())
    assert metrics["kappa"] == pytest.approx(cohen_kappa_score(targets.numpy(), logits.argmax(1).numpy()))
    assert set(metrics) == {"accuracy", "average_accuracy", "kappa"}


class CentrePixel(torch.nn.Module):
    """Predicts the class whose index is the argmax of the centre pixel's first 3 components."""

    def forward(self, x):
        centre = x[:, :3, x.shape[2] // 2, x.shape[3] // 2]
        return centre


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scene")
    write_synthetic_scene(folder, size=9, bands=8, num_classes=3, seed=0)
    return load_hyperspectral(SceneSettings(dataset="synthetic", data_dir=str(folder), components=4, window=3))


def test_scene_prediction_is_batched_and_in_row_major_order(splits):
    model = CentrePixel()
    expected = torch.from_numpy(splits.scene.padded[:3, 1:-1, 1:-1].argmax(0).numpy())  # (H, W)
    for batch_size in (7, 1000):
        predicted = predict_scene(model, splits, batch_size=batch_size)
        assert predicted.shape == (9, 9)
        np.testing.assert_array_equal(predicted, expected.numpy())
    labelled_only = predict_scene(model, splits, "labelled", batch_size=5)
    np.testing.assert_array_equal(labelled_only[splits.labels > 0], expected.numpy()[splits.labels > 0])
    assert (labelled_only[splits.labels == 0] == -1).all()
    assert predict_pixels(model, splits.test, batch_size=4).shape == (len(splits.test),)


def test_classification_map_is_a_png_beside_the_ground_truth(splits, tmp_path):
    predicted = predict_scene(CentrePixel(), splits)
    path = tmp_path / "map.png"
    plot_classification_map(splits.labels, predicted, splits.class_names, path, title="OA 1%")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 2 * image.height


def test_classification_map_legend_names_the_black_pixels(splits):
    every = classification_map_figure(splits.labels, predict_scene(CentrePixel(), splits), splits.class_names)
    (legend,) = every.legends
    assert [text.get_text() for text in legend.get_texts()] == ["unlabelled", *splits.class_names]
    labelled = classification_map_figure(splits.labels, predict_scene(CentrePixel(), splits, "labelled"),
                                         splits.class_names)
    assert labelled.legends[0].get_texts()[0].get_text() == "unlabelled, or not classified"
