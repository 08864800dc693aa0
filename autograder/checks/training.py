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


class OutputRecorder:
    """Records, through a forward hook, every output of a module that carries gradients.

    Used on the grader's own decoder network inside a probe: its outputs are the Bernoulli
    logits the student's loss used, so the judge can check the loss's gradient against them.
    """

    def __init__(self, module: torch.nn.Module) -> None:
        self.outputs: list[torch.Tensor] = []
        self._handle = module.register_forward_hook(self._record)

    def _record(self, module: torch.nn.Module, args: object, output: object) -> None:
        if isinstance(output, torch.Tensor) and output.requires_grad:
            self.outputs.append(output.detach().clone())

    def remove(self) -> None:
        """Stop recording."""
        self._handle.remove()


def expected_bias_gradient(x: torch.Tensor, logits: list[torch.Tensor]) -> torch.Tensor:
    """d loss / d (decoder output bias) for loss = -mean over the batch of an ELBO whose
    reconstruction term is log Bernoulli(x; logits), averaged over the decoder calls:
    mean over calls and examples of sigmoid(logits) - x, flattened per pixel ([D], float64).

    Exact whatever the prior, the posterior, the KL weight or the random draws: no other
    term of the ELBO depends on the decoder's output bias.
    """
    x64 = x.reshape(x.shape[0], -1).to(torch.float64)
    parts = [(torch.sigmoid(out.reshape(x.shape[0], -1).to(torch.float64)) - x64).mean(0)
             for out in logits]
    return torch.stack(parts).mean(0)


def bias_gradient_cosine(x: torch.Tensor, logits: object, grad: object) -> float | None:
    """Cosine between the loss's gradient on the decoder's output bias and the exact gradient
    of the negative Bernoulli log-likelihood (``expected_bias_gradient``); None when the
    probe's outputs are unusable (no decoder call of the batch's shape, no gradient)."""
    if not isinstance(grad, torch.Tensor) or not isinstance(logits, list) or not logits:
        return None
    n = x.shape[0]
    if any(not isinstance(lg, torch.Tensor) or lg.numel() != x.numel() for lg in logits) or \
            grad.numel() * n != x.numel():
        return None
    expected = expected_bias_gradient(x, logits)
    got = grad.reshape(-1).to(torch.float64)
    denominator = float(got.norm() * expected.norm())
    return float(got @ expected) / denominator if denominator > 0 else 0.0


# A correct loss gives cosine 1 up to float32 rounding (measured >= 0.9999 over the correct
# priors and seeds of bench/false_failure_rates.py); a negated ELBO gives -1.
BIAS_COSINE_MIN = 0.99
