"""An exponential moving average (EMA) of a module's weights, and evaluating with it.

The average is torch's :class:`~torch.optim.swa_utils.AveragedModel` with
:func:`~torch.optim.swa_utils.get_ema_multi_avg_fn`, buffers included (BatchNorm running
statistics are averaged too), updated after every optimizer step. :meth:`EMA.applied` puts the
averaged weights into the trained module for as long as it is open — validation, the best
state's copy, the feature OOD fit — and the raw weights back after, so every consumer of the
module (a :class:`~raycxr.models.FreezeNet` or the tail of one trained on cached activations,
whose parameters are shared with the whole network) sees the EMA weights without knowing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def _tensors(module: nn.Module) -> list[torch.Tensor]:
    """Parameters then buffers, in AveragedModel's order (``use_buffers=True``)."""
    return [*module.parameters(), *module.buffers()]


class EMA:
    """The EMA of ``module``'s weights: ``ema ← decay · ema + (1 − decay) · weights`` after each step.

    Args:
        module: The module that is trained (its parameters are the optimizer's).
        decay: In (0, 1); e.g. 0.999 averages over about the last 1000 steps.

    Raises:
        ValueError: ``decay`` is not in (0, 1).
    """

    def __init__(self, module: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1) (0 turns EMA off), got {decay!r}.")
        self.module = module
        self.decay = decay
        self.averaged = AveragedModel(module, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
        self.averaged.eval()  # never run forward: its tensors are what applied() copies in
        self.averaged.requires_grad_(False)

    @torch.no_grad()
    def update(self) -> None:
        """Average the module's current weights in (the first update copies them)."""
        self.averaged.update_parameters(self.module)

    @contextlib.contextmanager
    def applied(self) -> Iterator[nn.Module]:
        """The module with the EMA weights in place of its own until the block ends.

        Floating-point parameters and buffers are swapped; integer buffers (BatchNorm's
        ``num_batches_tracked``, which an average would truncate) keep the module's count.
        """
        pairs = [
            (own, ema)
            for own, ema in zip(_tensors(self.module), _tensors(self.averaged.module))
            if own.is_floating_point()
        ]
        with torch.no_grad():
            saved = [own.detach().clone() for own, _ in pairs]
            for own, ema in pairs:
                own.copy_(ema)
        try:
            yield self.module
        finally:
            with torch.no_grad():
                for (own, _), raw in zip(pairs, saved):
                    own.copy_(raw)

    def state_dict(self) -> dict[str, Any]:
        """The averaged weights (keys of the trained module, prefixed ``module.``) and ``n_averaged``."""
        return self.averaged.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.averaged.load_state_dict(state)


def ema_weights(ema: EMA | None) -> contextlib.AbstractContextManager:
    """``ema.applied()``, or a context that changes nothing when there is no EMA."""
    return ema.applied() if ema is not None else contextlib.nullcontext()
