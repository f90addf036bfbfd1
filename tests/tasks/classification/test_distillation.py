"""Knowledge distillation (Hinton et al. 2015): the loss, the frozen teacher, resume, refusals, a digits run."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from convzoo.cli import main
from convzoo.errors import ConvzooError
from convzoo.registry import create_model
from convzoo.tasks.classification.distillation import (
    DistillationOutput,
    DistillationTask,
    attach_teacher,
    soft_target_loss,
)
from convzoo.tasks.classification.objective import ClassificationTask
from convzoo.train.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint
from convzoo.train.config import resolve_config
from convzoo.train.runner import RESUME_FILE, train
from convzoo.train.state import load_state
from helpers import assert_one_line_error, run_cli, write_image


def _softmax(row: list[float], temperature: float) -> list[float]:
    exps = [math.exp(value / temperature) for value in row]
    return [value / sum(exps) for value in exps]


def test_loss_equals_a_hand_computation():
    student = [[1.0, -0.5, 2.0], [0.3, 0.2, -1.0]]
    teacher = [[2.5, 0.0, 1.0], [-0.4, 1.5, 0.1]]
    labels, temperature, alpha = [2, 0], 2.0, 0.7
    expected = 0.0
    for z, v, label in zip(student, teacher, labels):
        q, p = _softmax(z, temperature), _softmax(v, temperature)
        divergence = sum(p_i * math.log(p_i / q_i) for p_i, q_i in zip(p, q))
        cross_entropy = -math.log(_softmax(z, 1.0)[label])
        expected += alpha * temperature**2 * divergence + (1 - alpha) * cross_entropy
    expected /= len(labels)
    task = DistillationTask(ClassificationTask(3), temperature=temperature, alpha=alpha)
    output = DistillationOutput(torch.tensor(student, dtype=torch.float64), torch.tensor(teacher, dtype=torch.float64))
    assert task.loss(output, torch.tensor(labels)).item() == pytest.approx(expected, rel=1e-6)


def test_soft_term_is_scaled_by_t_squared_so_its_gradient_does_not_vanish_at_high_temperature():
    torch.manual_seed(0)
    student, teacher = torch.randn(4, 10), torch.randn(4, 10)
    student, teacher = student - student.mean(1, keepdim=True), teacher - teacher.mean(1, keepdim=True)
    for temperature in (1.0, 3.0, 8.0):
        divergence = F.kl_div((student / temperature).log_softmax(1), (teacher / temperature).softmax(1),
                              reduction="batchmean")
        torch.testing.assert_close(soft_target_loss(student, teacher, temperature), temperature**2 * divergence)
    # The paper's Eq. 4: for large T and zero-mean logits, dC/dz_i -> (z_i - v_i) / (N T^2); times T^2 it stays.
    logits = student.clone().requires_grad_(True)
    soft_target_loss(logits, teacher, temperature=100.0).backward()
    batch, classes = student.shape
    torch.testing.assert_close(logits.grad, (student - teacher) / (classes * batch), rtol=0.02, atol=1e-4)


def test_alpha_zero_is_plain_cross_entropy_and_eval_outputs_score_the_student_alone():
    torch.manual_seed(0)
    student, teacher, labels = torch.randn(6, 5), torch.randn(6, 5), torch.randint(0, 5, (6,))
    base = ClassificationTask(5)
    plain = F.cross_entropy(student, labels)
    assert torch.equal(DistillationTask(base, 4.0, 0.0).loss(DistillationOutput(student, teacher), labels), plain)
    task = DistillationTask(base, 4.0, 0.9)
    assert torch.equal(task.loss(student, labels), plain)  # eval mode: the student's logits alone
    sums = task.batch_sums(DistillationOutput(student, teacher), labels, detailed=True)
    expected = base.batch_sums(student, labels, detailed=True)
    assert sums.keys() == expected.keys() and all(torch.equal(sums[key], expected[key]) for key in sums)


def test_the_teacher_gets_no_gradient_stays_in_eval_mode_and_is_not_part_of_the_student():
    torch.manual_seed(0)
    teacher = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5), nn.Flatten(), nn.LazyLinear(3))
    student = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.LazyLinear(3))
    inputs = torch.randn(4, 1, 6, 6)
    teacher.eval()(inputs), student(inputs)  # materialise the lazy layers
    expected_teacher = teacher(inputs)
    before = {key: value.clone() for key, value in teacher.state_dict().items()}
    student_keys = set(student.state_dict())
    attach_teacher(student, teacher.train())
    student.train()  # what the engine does every epoch
    output = student(inputs)
    assert isinstance(output, DistillationOutput)
    torch.testing.assert_close(output.teacher, expected_teacher)  # eval mode: running statistics, no dropout
    DistillationTask(ClassificationTask(3), 4.0, 0.9).loss(output, torch.tensor([0, 1, 2, 0])).backward()
    assert not teacher.training and all(not module.training for module in teacher.modules())
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    assert all(p.grad is not None for p in student.parameters())
    assert all(torch.equal(value, before[key]) for key, value in teacher.state_dict().items())
    assert set(student.state_dict()) == student_keys
    assert isinstance(student.eval()(inputs), torch.Tensor)


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    """A LeNet-5 trained one epoch on the bundled digits through the command line."""
    out = tmp_path_factory.mktemp("teacher") / "run"
    assert main(["train", "lenet5", "--epochs", "1", "--out", str(out)]) == 0
    return out


def test_a_tiny_digits_run_distils_into_a_plain_classifier(teacher_dir, tmp_path, capsys):
    out = tmp_path / "student"
    code, printed, err = run_cli(capsys, "train", "lenet5", "--teacher", str(teacher_dir), "--kd-temperature", "2",
                                 "--kd-alpha", "0.5", "--epochs", "1", "--seed", "1", "--out", str(out))
    assert code == 0, err
    assert "test accuracy" in printed
    saved = load_state(out / RESUME_FILE)["config"]
    assert (saved["teacher"], saved["kd_temperature"], saved["kd_alpha"]) == (str(teacher_dir), 2.0, 0.5)
    assert load_file(out / "model.safetensors").keys() == create_model("lenet5", in_chans=1).state_dict().keys()
    model, meta = load_checkpoint(out)
    assert meta.task == "classification" and model(torch.zeros(1, 1, 32, 32)).shape == (1, 10)
    assert json.loads((out / "test_metrics.json").read_text())["accuracy"] > 0.5  # 10 classes: chance is 0.1
    image = tmp_path / "digit.png"
    write_image(image, mode="L")
    code, printed, err = run_cli(capsys, "predict", str(out), str(image))
    assert code == 0 and printed.startswith(str(image)), err


def test_a_resumed_distillation_run_equals_a_straight_one(teacher_dir, tmp_path):
    config = resolve_config(model="lenet5", teacher=str(teacher_dir), epochs=2, schedule="constant",
                            batch_size=128, kd_temperature=3.0)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(replace(config, out=str(straight)))
    train(replace(config, epochs=1, out=str(resumed)))
    train(resume=resumed, epochs=2)
    expected, actual = load_file(straight / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert expected.keys() == actual.keys() and all(torch.equal(expected[key], actual[key]) for key in expected)
    assert (straight / "metrics.csv").read_text() == (resumed / "metrics.csv").read_text()


def _altered_teacher(teacher_dir, folder, **changes) -> str:
    """The teacher's checkpoint with other metadata (and a model built to match it)."""
    meta = CheckpointMeta(**json.loads((teacher_dir / "model.json").read_text()))
    meta = replace(meta, **changes)
    folder.mkdir()
    torch.manual_seed(0)
    save_checkpoint(folder / "model", create_model(meta.model, **meta.model_args), meta)
    return str(folder)


@pytest.mark.parametrize("changes, fragments", [
    (dict(task="segmentation"), ("is a segmentation checkpoint", "classifier")),
    (dict(class_names=["0", "1", "2"], model_args={"in_chans": 1, "num_classes": 3}),
     ("predicts 3 classes", "this run has 10")),
    (dict(input_size=[3, 32, 32], model_args={"in_chans": 3, "num_classes": 10}),
     ("takes 3-channel images", "1-channel")),
    (dict(input_size=[1, 28, 28]), ("was trained on 28x28 images", "give --image-size 28")),
])
def test_a_teacher_that_does_not_fit_the_run_is_refused_in_one_line(teacher_dir, tmp_path, capsys, changes,
                                                                    fragments):
    teacher = _altered_teacher(teacher_dir, tmp_path / "teacher", **changes)
    out = tmp_path / "student"
    code, _, err = run_cli(capsys, "train", "lenet5", "--teacher", teacher, "--epochs", "1", "--out", str(out))
    assert_one_line_error(code, err, f"--teacher {teacher}", *fragments)
    assert not out.exists()


@pytest.mark.parametrize("settings, fragment", [
    (dict(teacher="no/such/run"), "--teacher no/such/run does not exist"),
    (dict(kd_alpha=0.5), "give --teacher CHECKPOINT"),
    (dict(teacher=".", kd_alpha=1.5), "--kd-alpha must be in [0, 1], got 1.5"),
    (dict(teacher=".", kd_temperature=0.0), "--kd-temperature must be greater than 0"),
    (dict(teacher=".", model="hybridsn", task="hyperspectral"), "--task hyperspectral does not train"),
])
def test_bad_distillation_settings_are_refused_before_the_run(settings, fragment):
    with pytest.raises(ConvzooError) as error:
        resolve_config(**{"model": "lenet5", **settings})
    assert fragment in str(error.value) and "\n" not in str(error.value)
