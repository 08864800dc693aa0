"""Helpers shared by the training probes of topics 05–08."""

from __future__ import annotations

from collections.abc import Callable

import torch


def nan_parameters(exc: BaseException) -> bool:
    """Whether ``exc`` is torch.distributions refusing NaN/inf parameters.

    A training loop whose loss went NaN usually fails this way one step later, when the
    next distribution is built from the broken network outputs: the training diverged.
    """
    return isinstance(exc, ValueError) and "found invalid values" in str(exc)


def finite_loss(compute: Callable[[], torch.Tensor]) -> torch.Tensor | None:
    """The loss ``compute()`` returns, or None when training diverged (a NaN/inf loss, or
    distributions refusing NaN/inf parameters)."""
    try:
        loss = compute()
    except ValueError as exc:
        if nan_parameters(exc):
            return None
        raise
    return loss if bool(torch.isfinite(loss)) else None
