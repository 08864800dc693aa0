"""Helpers shared by the training probes of topics 05–08."""

from __future__ import annotations


def nan_parameters(exc: BaseException) -> bool:
    """Whether ``exc`` is torch.distributions refusing NaN/inf parameters.

    A training loop whose loss went NaN usually fails this way one step later, when the
    next distribution is built from the broken network outputs: the training diverged.
    """
    return isinstance(exc, ValueError) and "found invalid values" in str(exc)
