"""A zoo of CNNs for training and validating latency predictors: torchvision models with random
weights (nothing is downloaded) and seeded synthetic CNNs, each with its family for
leave-one-family-out validation, at small inputs so a CPU measures them in minutes."""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence, Tuple

import torch
from torch import nn


@dataclass(frozen=True)
class ZooEntry:
    """One network of the zoo: how to build it, its family and input size."""

    name: str
    family: str
    build: Callable[[], nn.Module]
    size: int = 64
    batch: int = 1

    def make(self, seed: int = 0) -> Tuple[nn.Module, Tuple[torch.Tensor]]:
        """The model (random weights, eval mode) and its input."""
        torch.manual_seed(seed)
        model = self.build().eval()
        g = torch.Generator().manual_seed(seed + 1)
        return model, (torch.randn(self.batch, 3, self.size, self.size, generator=g),)


class SyntheticCNN(nn.Module):
    """A seeded random CNN: stages of conv (3x3, 1x1, depthwise, 5x5), BN, ReLU/Hardswish, pooling,
    optional residual adds, and a linear head. Different seeds give different shapes."""

    def __init__(self, seed: int, width: int = 32, stages: int = 4, classes: int = 100):
        super().__init__()
        rng = random.Random(seed)
        layers: List[nn.Module] = [nn.Conv2d(3, width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(width),
                                   nn.ReLU(inplace=True)]
        c = width
        self.res: List[bool] = []
        blocks = nn.ModuleList()
        for s in range(stages):
            out = int(c * rng.choice([1.0, 1.5, 2.0]))
            kind = rng.choice(["3x3", "1x1", "dw", "5x5"])
            if kind == "3x3":
                body = [nn.Conv2d(c, out, 3, padding=1, bias=False)]
            elif kind == "1x1":
                body = [nn.Conv2d(c, out, 1, bias=rng.random() < 0.5)]
            elif kind == "dw":
                body = [nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                        nn.Conv2d(c, out, 1, bias=False)]
            else:
                body = [nn.Conv2d(c, out, 5, padding=2, bias=False)]
            act = nn.Hardswish() if rng.random() < 0.3 else nn.ReLU()
            body += [nn.BatchNorm2d(out), act]
            blocks.append(nn.Sequential(*body))
            self.res.append(out == c)
            c = out
            if s < stages - 1:
                blocks.append(nn.MaxPool2d(2) if rng.random() < 0.5 else nn.AvgPool2d(2))
                self.res.append(False)
        self.stem = nn.Sequential(*layers)
        self.blocks = blocks
        self.pool = nn.AdaptiveAvgPool2d(1)
        hidden = rng.choice([0, 256, 512])
        self.head = (nn.Sequential(nn.Flatten(), nn.Linear(c, hidden), nn.ReLU(), nn.Linear(hidden, classes))
                     if hidden else nn.Sequential(nn.Flatten(), nn.Linear(c, classes)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block, res in zip(self.blocks, self.res):
            x = block(x) + x if res else block(x)
        return self.head(self.pool(x))


def _tv(name: str, **kw) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import torchvision

        return getattr(torchvision.models, name)(weights=None, **kw)
    build.__name__ = name
    return build


def _syn(seed: int, width: int = 32, stages: int = 4) -> Callable[[], nn.Module]:
    return lambda: SyntheticCNN(seed, width, stages)


#: The default zoo: 15 networks in 11 families.
ZOO: Tuple[ZooEntry, ...] = (
    ZooEntry("resnet18", "resnet", _tv("resnet18"), 64),
    ZooEntry("resnet50", "resnet", _tv("resnet50"), 64),
    ZooEntry("vgg11", "vgg", _tv("vgg11"), 64),
    ZooEntry("alexnet", "alexnet", _tv("alexnet"), 96),
    ZooEntry("mobilenet_v2", "mobilenet", _tv("mobilenet_v2"), 64),
    ZooEntry("mobilenet_v3_small", "mobilenet", _tv("mobilenet_v3_small"), 96),
    ZooEntry("shufflenet_v2_x0_5", "shufflenet", _tv("shufflenet_v2_x0_5"), 96),
    ZooEntry("squeezenet1_1", "squeezenet", _tv("squeezenet1_1"), 96),
    ZooEntry("densenet121", "densenet", _tv("densenet121"), 64),
    ZooEntry("googlenet", "googlenet", _tv("googlenet", aux_logits=False, init_weights=True), 64),
    ZooEntry("regnet_x_400mf", "regnet", _tv("regnet_x_400mf"), 64),
    ZooEntry("mnasnet0_5", "mnasnet", _tv("mnasnet0_5"), 96),
    ZooEntry("synthetic_a", "synthetic", _syn(1), 64),
    ZooEntry("synthetic_b", "synthetic", _syn(2, 24, 5), 96),
    ZooEntry("synthetic_c", "synthetic", _syn(3, 48, 3), 64),
)


def zoo(names: Sequence[str] = ()) -> List[ZooEntry]:
    """Entries of :data:`ZOO` (all, or those named)."""
    if not names:
        return list(ZOO)
    by = {e.name: e for e in ZOO}
    unknown = [n for n in names if n not in by]
    if unknown:
        raise ValueError(f"unknown zoo network(s) {unknown}; the zoo has {', '.join(by)}")
    return [by[n] for n in names]


def families(entries: Sequence[ZooEntry]) -> Dict[str, str]:
    """Network name -> family."""
    return {e.name: e.family for e in entries}


__all__ = ["SyntheticCNN", "ZOO", "ZooEntry", "families", "zoo"]
