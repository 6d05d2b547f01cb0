"""Small PyTorch models built for the source tests (``package.module:factory`` sources)."""

from __future__ import annotations

from typing import Any


def small_cnn() -> Any:
    """An NCHW CNN on 3x32x32: conv-bn-relu x2, pooling, a linear head with softmax (seeded weights)."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 5), nn.Softmax(dim=1))
    # BatchNorm statistics of a trained model rather than the identity defaults
    with torch.no_grad():
        for m in model:
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def uses_erfinv() -> Any:
    """A model with an op litert-torch has no lowering for (``aten.erfinv``)."""
    import torch
    from torch import nn

    class ErfInv(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.special.erfinv(x * 0.5)

    return ErfInv().eval()
