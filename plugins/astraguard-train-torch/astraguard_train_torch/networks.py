"""The networks and the one training loop they share.

Every network maps a batch of windows ``(batch, window, inputs)`` to its outputs: the LSTM
forecaster to the next values of its target, the autoencoders to the window itself.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
import torch
from torch import nn

from .devices import autocast


class LSTMForecaster(nn.Module):
    """Stacked LSTM layers, dropout after each, and a linear head over the last step's
    output predicting ``outputs`` values (telemanom: two layers of 80, dropout 0.3)."""

    def __init__(self, inputs: int, units: Sequence[int], outputs: int, dropout: float) -> None:
        super().__init__()
        sizes = [inputs, *units]
        self.layers = nn.ModuleList(
            nn.LSTM(a, b, batch_first=True) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(sizes[-1], outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = self.dropout(layer(x)[0])
        return self.head(x[:, -1])


class DenseAutoencoder(nn.Module):
    """The window flattened, squeezed through dense layers to a linear code of
    ``units[-1]`` values (a ReLU there would zero parts of a narrow code) and back."""

    def __init__(self, window: int, inputs: int, units: Sequence[int]) -> None:
        super().__init__()
        sizes = [window * inputs, *units]
        self.encoder = _dense(sizes)
        self.decoder = _dense(sizes[::-1])
        self.shape = (window, inputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x.flatten(1))).view(-1, *self.shape)


def _dense(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers through ``sizes``, a ReLU between each two, none after the last."""
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


class ConvAutoencoder(nn.Module):
    """1-D convolutions over time, each halving the window's length, then transposed
    convolutions doubling it back; the output is cut to the window's length."""

    def __init__(self, window: int, inputs: int, units: Sequence[int], kernel: int) -> None:
        super().__init__()
        pad = kernel // 2
        sizes = [inputs, *units]
        encoder: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            encoder += [nn.Conv1d(a, b, kernel, stride=2, padding=pad), nn.ReLU()]
        decoder: list[nn.Module] = []
        back = sizes[::-1]
        for a, b in zip(back[:-1], back[1:], strict=True):
            decoder += [nn.ConvTranspose1d(a, b, kernel, stride=2, padding=pad,
                                           output_padding=1), nn.ReLU()]
        self.net = nn.Sequential(*encoder, *decoder[:-1])
        self.window = window

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x.transpose(1, 2))[:, :, : self.window]
        return out.transpose(1, 2)


@attrs.frozen
class TrainingLog:
    """What a fit did: epochs run, the best validation loss (None without a validation
    part), the epoch it came from, the seconds the loop took, and the windows it trained on
    per epoch (the held-out ones excluded)."""

    epochs: int
    best_loss: float | None
    best_epoch: int
    seconds: float
    samples: int


def windows(series: torch.Tensor, starts: torch.Tensor, window: int) -> torch.Tensor:
    """The ``window`` rows of ``series`` from each of ``starts``: ``(len(starts), window,
    columns)``, gathered on the series' device (no copy of all windows is ever made)."""
    offsets = torch.arange(window, device=series.device)
    return series[starts[:, None] + offsets]


def train_network(
    net: nn.Module,
    series: np.ndarray,
    starts: np.ndarray,
    targets: np.ndarray | None,
    valid: np.ndarray,
    *,
    window: int,
    epochs: int,
    batch_size: int,
    patience: int,
    min_delta: float,
    learning_rate: float,
    device: torch.device,
    mixed_precision: bool,
) -> TrainingLog:
    """Fit ``net`` by Adam on the mean squared error; return what it did.

    Sample ``i`` is the window of ``series`` starting at ``starts[i]``; it is trained to
    give ``targets[i]`` (None: the window itself, for an autoencoder). The samples where
    ``valid`` is True (each channel's training tail) are held out: training stops when
    their loss has not improved by ``min_delta`` for ``patience`` epochs, and the weights of
    the best epoch are kept. Batches are shuffled by torch's generator, so a seeded caller
    (:func:`~.devices.seeded`) gets the same fit every time on a CPU.
    """
    start = time.perf_counter()
    net.to(device)
    data = torch.as_tensor(series, dtype=torch.float32, device=device)
    first = torch.as_tensor(starts, dtype=torch.long, device=device)
    aim = None if targets is None else torch.as_tensor(targets, dtype=torch.float32,
                                                       device=device)
    fit_idx = torch.as_tensor(np.flatnonzero(~valid), device=device)
    val_idx = torch.as_tensor(np.flatnonzero(valid), device=device)
    optimiser = torch.optim.Adam(net.parameters(), lr=learning_rate)
    scaler = torch.amp.GradScaler("cuda", enabled=mixed_precision and device.type == "cuda")
    loss_fn = nn.MSELoss()

    def loss_of(idx: torch.Tensor) -> torch.Tensor:
        x = windows(data, first[idx], window)
        with autocast(device, mixed_precision):
            out = net(x)
            return loss_fn(out.float(), x if aim is None else aim[idx])

    best: tuple[float, int, dict[str, Any]] | None = None
    epoch = 0
    for epoch in range(1, epochs + 1):
        net.train()
        order = fit_idx[torch.randperm(fit_idx.numel()).to(device)]
        for lo in range(0, order.numel(), batch_size):
            optimiser.zero_grad(set_to_none=True)
            scaler.scale(loss_of(order[lo : lo + batch_size])).backward()
            scaler.step(optimiser)
            scaler.update()
        if val_idx.numel() == 0:
            continue
        net.eval()
        with torch.no_grad():
            total = sum(
                float(loss_of(part)) * part.numel() for part in val_idx.split(batch_size)
            )
        loss = total / val_idx.numel()
        if best is None or loss < best[0] - min_delta:
            best = (loss, epoch, copy.deepcopy(net.state_dict()))
        elif epoch - best[1] >= patience:
            break
    if best is not None:
        net.load_state_dict(best[2])
    net.eval()
    return TrainingLog(
        epochs=epoch,
        best_loss=None if best is None or not math.isfinite(best[0]) else best[0],
        best_epoch=epoch if best is None else best[1],
        seconds=time.perf_counter() - start,
        samples=int(fit_idx.numel()),
    )
