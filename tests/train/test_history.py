"""The training curves: a title, whole epochs, and y ranges that do not magnify noise."""

from __future__ import annotations

import pytest

from convzoo.train.history import History


def history(epochs: int, top5: list[float] | None = None) -> History:
    record = History(title="lenet5 on digits")
    for epoch in range(1, epochs + 1):
        record.append({
            "epoch": epoch, "lr": 0.01, "train_loss": 2.0 / epoch, "train_accuracy": 0.3 + 0.05 * epoch,
            "train_top5": top5[epoch - 1] if top5 else 0.9, "val_loss": 1.5 / epoch,
            "val_accuracy": 0.4 + 0.05 * epoch, "val_top5": top5[epoch - 1] if top5 else 0.95,
        })
    return record


def panels(figure) -> dict[str, object]:
    return {axis.get_ylabel(): axis for axis in figure.axes}


@pytest.mark.parametrize("epochs", [1, 3, 7])
def test_curves_are_titled_and_ticked_at_whole_epochs(epochs):
    figure = history(epochs).figure()
    figure.canvas.draw()
    assert figure.get_suptitle().startswith("lenet5 on digits: training curves")
    assert list(panels(figure)) == ["loss", "accuracy", "top-5 accuracy"]
    for axis in figure.axes:
        ticks = [tick for tick in axis.get_xticks() if axis.get_xlim()[0] <= tick <= axis.get_xlim()[1]]
        assert ticks and all(float(tick).is_integer() for tick in ticks), ticks


def test_one_epoch_is_drawn_as_points_and_more_as_lines():
    for axis in history(1).figure().axes:
        assert all(line.get_linestyle() == "None" and line.get_marker() == "o" for line in axis.get_lines())
    for axis in history(3).figure().axes:
        assert all(line.get_linestyle() == "-" for line in axis.get_lines())


def test_a_share_near_one_is_not_magnified():
    # Top-5 accuracy wobbling by 0.2 points: on its own range the wobble would fill the panel.
    figure = history(3, top5=[0.994, 0.996, 0.995]).figure()
    bottom, top = panels(figure)["top-5 accuracy"].get_ylim()
    assert top - bottom >= 0.1 and -0.011 <= bottom and top <= 1.011
    bottom, top = panels(figure)["accuracy"].get_ylim()
    assert bottom <= 0.35 and top >= 0.55 and top <= 1.011


def test_write_draws_the_png(tmp_path):
    history(2).write(tmp_path)
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "metrics.csv").read_text().splitlines()[0].startswith("epoch,lr,train_loss")


def test_kappa_is_a_coefficient_not_a_percentage():
    record = History()
    record.append({"epoch": 1, "train_loss": 1.0, "train_kappa": 0.97, "val_loss": 1.1, "val_kappa": 0.96})
    figure = record.figure()
    kappa = panels(figure)["Cohen's kappa"]
    bottom, top = kappa.get_ylim()
    assert top - bottom >= 0.1 and top <= 1.011
    assert "%" not in kappa.yaxis.get_major_formatter()(0.95, 0)
    assert figure.get_suptitle() == "training curves, 1 epoch"
