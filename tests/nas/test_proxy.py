"""The proxy's scoring: batch-norm statistics recomputed over the data, then the accuracy."""

import torch
from torch import nn
from torch.utils.data import TensorDataset

from convzoo.nas.proxy import accuracy, recalibrate_batch_norm


def test_recalibration_gives_the_exact_mean_and_variance_over_all_batches():
    torch.manual_seed(0)
    conv, norm = nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3)
    model = nn.Sequential(conv, norm)
    norm.running_mean.fill_(5.0)  # stale statistics
    inputs = torch.randn(50, 2, 6, 6) * 3 + 1
    recalibrate_batch_norm(model, TensorDataset(inputs, torch.zeros(50)), batch_size=16)
    with torch.no_grad():
        features = conv(inputs)  # (50, 3, 4, 4)
    # a cumulative average of the per-batch statistics (batches of 16, 16, 16, 2), variances unbiased per batch
    batches = features.split(16)
    mean = torch.stack([b.mean((0, 2, 3)) for b in batches]).mean(0)
    var = torch.stack([b.var((0, 2, 3), unbiased=True) for b in batches]).mean(0)
    assert torch.allclose(norm.running_mean, mean, atol=1e-5) and torch.allclose(norm.running_var, var, atol=1e-4)
    assert not model.training and norm.momentum == 0.1


def test_recalibration_repairs_stale_statistics():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    inputs = torch.randn(64, 4)
    labels = (inputs[:, 0] > 0).long()
    optimizer = torch.optim.Adam(model.parameters(), 0.05)
    for _ in range(100):
        loss = nn.functional.cross_entropy(model(inputs), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    data = TensorDataset(inputs, labels)
    model.train()
    with torch.no_grad():
        trained = (model(inputs).argmax(1) == labels).float().mean().item()  # batch statistics
    model[2].running_mean.fill_(10.0)
    recalibrate_batch_norm(model, data, batch_size=64)
    assert accuracy(model, data) == trained  # one batch: the running statistics are the batch's
