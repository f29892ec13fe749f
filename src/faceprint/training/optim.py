"""The optimizers and learning-rate schedules a training config may name: one table each, read by the config's
validation and by the trainer."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    # the paper's choice (AdaGrad), Adam with decoupled weight decay, and SGD with Nesterov momentum
    "adagrad": lambda params, c: torch.optim.Adagrad(params, lr=c.lr, weight_decay=c.weight_decay),
    "adam": lambda params, c: torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay),
    "sgd": lambda params, c: torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay,
                                             nesterov=True),
}

# progress t in [0, 1] after warm-up -> factor on the learning rate
SCHEDULES: dict[str, Callable[[float], float]] = {
    "constant": lambda t: 1.0,
    "cosine": lambda t: 0.5 * (1 + math.cos(math.pi * min(1.0, t))),
    "step": lambda t: 0.1 ** int(t >= 0.5) * 0.1 ** int(t >= 0.8),
}


def make_optimizer(params: Iterable[torch.nn.Parameter], config: Any) -> torch.optim.Optimizer:
    return OPTIMIZERS[config.optimizer](params, config)


def lr_factor(step: int, config: Any) -> float:
    """Linear warm-up over `warmup_steps`, then the schedule over the remaining steps."""
    if config.warmup_steps and step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    t = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return SCHEDULES[config.schedule](t)
