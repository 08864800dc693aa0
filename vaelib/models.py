"""The course's reference network architectures (plain MLPs; the graded VAE classes that wrap
them live in the topic notebooks, not here)."""

from __future__ import annotations

from torch import nn

IMAGE_SHAPE = (28, 28)
D = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]


def encoder_net(latent_dim: int, hidden: int = 512) -> nn.Sequential:
    """[B, 28, 28] -> [B, 2M]: mean, then log-variance, of q(z|x)."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(D, hidden), nn.ReLU(),
        nn.Linear(hidden, hidden), nn.ReLU(),
        nn.Linear(hidden, 2 * latent_dim),
    )


def decoder_net(latent_dim: int, hidden: int = 512) -> nn.Sequential:
    """[B, M] -> [B, 28, 28]: Bernoulli logits of p(x|z)."""
    return nn.Sequential(
        nn.Linear(latent_dim, hidden), nn.ReLU(),
        nn.Linear(hidden, hidden), nn.ReLU(),
        nn.Linear(hidden, D),
        nn.Unflatten(-1, IMAGE_SHAPE),
    )
