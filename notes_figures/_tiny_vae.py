"""Tiny one-layer VAEs for the notes' figures (topics 05-07): MLP encoder and decoder, a
Gaussian posterior, a Bernoulli decoder and a pluggable prior (standard, mixture, VampPrior).

Small enough to train on a CPU in seconds to a minute: a few thousand MNIST images, a 2-D
latent space, one hidden layer. Not the graded classes (those live in the notebooks).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.distributions as td
from torch import nn

from vaelib.data import MNISTSplit, load_split
from vaelib.plots import image_grid

PIXELS = 28 * 28


def mnist(n_train: int, n_test: int) -> tuple[MNISTSplit, torch.Tensor, torch.Tensor]:
    """The first ``n_train`` training images (dynamic binarization), the first ``n_test`` test
    images as one fixed-binarization tensor ``[n_test, 784]``, and their labels."""
    train = load_split("train", limit=n_train)
    test = load_split("test", limit=n_test)
    return train, test.binary().reshape(-1, PIXELS), test.labels


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread inside the block (tiny MLPs are several times faster on a busy
    machine than with one thread per core), then restore the previous setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def mlp(n_in: int, n_hidden: int, n_out: int) -> nn.Sequential:
    """One hidden ReLU layer."""
    return nn.Sequential(nn.Linear(n_in, n_hidden), nn.ReLU(), nn.Linear(n_hidden, n_out))


def diag_gaussian(params: torch.Tensor) -> td.Independent:
    """``[..., 2M]`` network output (mean, then log-variance v) -> N(mean, diag e^v)."""
    mean, logvar = params.chunk(2, dim=-1)
    return td.Independent(td.Normal(mean, torch.exp(0.5 * logvar)), 1)


class StandardPrior(nn.Module):
    """p(z) = N(0, I)."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.register_buffer("zero", torch.zeros(latent_dim))

    def forward(self) -> td.Distribution:
        return td.Independent(td.Normal(self.zero, torch.ones_like(self.zero)), 1)


class MoGPrior(nn.Module):
    """A learnable mixture of ``k`` diagonal Gaussians."""

    def __init__(self, latent_dim: int, k: int) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(k))
        self.means = nn.Parameter(torch.randn(k, latent_dim))
        self.logvars = nn.Parameter(torch.zeros(k, latent_dim))

    def forward(self) -> td.Distribution:
        return td.MixtureSameFamily(td.Categorical(logits=self.logits),
                                    td.Independent(td.Normal(self.means,
                                                             torch.exp(0.5 * self.logvars)), 1))


class VampPrior(nn.Module):
    """(1/K) sum_k q(z | u_k) with learned pseudo-inputs u_k = sigmoid(r_k) and the shared
    encoder network ``encoder`` (not a copy)."""

    def __init__(self, encoder: nn.Module, pseudo_init: torch.Tensor) -> None:
        super().__init__()
        self.encoder = [encoder]  # a list: the encoder's parameters belong to the VAE, not here
        init = pseudo_init.reshape(pseudo_init.shape[0], -1).clamp(0.05, 0.95)
        self.raw = nn.Parameter(torch.log(init) - torch.log1p(-init))

    def pseudo_inputs(self) -> torch.Tensor:
        """The K pseudo-inputs, ``[K, 784]`` in [0, 1]."""
        return torch.sigmoid(self.raw)

    def forward(self) -> td.Distribution:
        components = diag_gaussian(self.encoder[0](self.pseudo_inputs()))
        k = self.raw.shape[0]
        return td.MixtureSameFamily(td.Categorical(logits=torch.zeros(k)), components)


class TinyVAE(nn.Module):
    """Encoder 784-H-2M, decoder M-H-784 (Bernoulli logits), any prior module."""

    def __init__(self, latent_dim: int = 2, hidden: int = 200, prior: str = "standard",
                 k: int = 10, pseudo_init: torch.Tensor | None = None) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = mlp(PIXELS, hidden, 2 * latent_dim)
        self.decoder = mlp(latent_dim, hidden, PIXELS)
        if prior == "standard":
            self.prior = StandardPrior(latent_dim)
        elif prior == "mog":
            self.prior = MoGPrior(latent_dim, k)
        elif prior == "vamp":
            if pseudo_init is None:
                raise ValueError("a VampPrior needs pseudo_init images")
            self.prior = VampPrior(self.encoder, pseudo_init)
        else:
            raise ValueError(f"unknown prior {prior!r}")
        self.prior_kind = prior

    def posterior(self, x: torch.Tensor) -> td.Independent:
        """q(z | x) for flat binary images ``[B, 784]``."""
        return diag_gaussian(self.encoder(x))

    def likelihood(self, z: torch.Tensor) -> td.Independent:
        """p(x | z) as 784 independent Bernoullis."""
        return td.Independent(td.Bernoulli(logits=self.decoder(z)), 1)

    def elbo_terms(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One-sample reconstruction term ``[B]`` and KL term ``[B]`` (analytic for N(0, I),
        else log q - log p at the same sample)."""
        q = self.posterior(x)
        z = q.rsample()
        rec = self.likelihood(z).log_prob(x)
        prior = self.prior()
        if self.prior_kind == "standard":
            kl = td.kl_divergence(q, prior)
        else:
            kl = q.log_prob(z) - prior.log_prob(z)
        return rec, kl

    def log_weights(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """``[k, B]`` importance log-weights log p(x, z_k) - log q(z_k | x), z_k ~ q(z | x)."""
        q = self.posterior(x)
        z = q.rsample((k,))
        return self.likelihood(z).log_prob(x) + self.prior().log_prob(z) - q.log_prob(z)


def iwae_bound(log_w: torch.Tensor) -> torch.Tensor:
    """log (1/K) sum_k w_k over the first axis, computed stably."""
    return torch.logsumexp(log_w, 0) - math.log(log_w.shape[0])


@dataclass
class History:
    """Per-step training trace: reconstruction term and KL term (batch means, nats)."""

    rec: list[float] = field(default_factory=list)
    kl: list[float] = field(default_factory=list)
    test_steps: list[int] = field(default_factory=list)
    test_rec: list[float] = field(default_factory=list)
    test_kl: list[float] = field(default_factory=list)


def train_vae(model: TinyVAE, data: MNISTSplit, steps: int, *, seed: int, iw_k: int = 1,
              batch_size: int = 100, lr: float = 1e-3, test_x: torch.Tensor | None = None,
              test_every: int = 0) -> History:
    """Adam on the ELBO (``iw_k == 1``) or the IWAE bound with ``iw_k`` samples; returns the
    trace of the one-sample ELBO's two terms (and of the test set's, every ``test_every``)."""
    torch.manual_seed(seed)
    with one_thread():
        history = _train(model, data, steps, iw_k, batch_size, lr, test_x, test_every)
    model.eval()
    return history


def _train(model: TinyVAE, data: MNISTSplit, steps: int, iw_k: int, batch_size: int, lr: float,
           test_x: torch.Tensor | None, test_every: int) -> History:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = History()
    step = 0
    while step < steps:
        for batch in data.batches(batch_size):
            x = batch.reshape(-1, PIXELS)
            if iw_k == 1:
                rec, kl = model.elbo_terms(x)
                loss = -(rec - kl).mean()
            else:
                loss = -iwae_bound(model.log_weights(x, iw_k)).mean()
                with torch.no_grad():
                    rec, kl = model.elbo_terms(x)
            opt.zero_grad()
            loss.backward()
            opt.step()
            history.rec.append(rec.mean().item())
            history.kl.append(kl.mean().item())
            step += 1
            if test_x is not None and test_every and (step % test_every == 0 or step == steps):
                with torch.no_grad():
                    t_rec, t_kl = model.elbo_terms(test_x)
                history.test_steps.append(step)
                history.test_rec.append(t_rec.mean().item())
                history.test_kl.append(t_kl.mean().item())
            if step >= steps:
                break
    return history


def latent_grid(lim: float, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """An ``n`` x ``n`` grid over [-lim, lim]^2: the 1-D axis, and X, Y of shape [n, n]."""
    axis = torch.linspace(-lim, lim, n)
    gy, gx = torch.meshgrid(axis, axis, indexing="ij")
    return axis, gx, gy


def aggregate_log_density(z: torch.Tensor, q: td.Independent, chunk: int = 2000
                          ) -> torch.Tensor:
    """log q(z) = log (1/n) sum_n q(z | x_n) at points ``z`` [P, M], for posteriors ``q`` with
    batch shape [n]; chunked over the points."""
    out = []
    n = q.batch_shape[0]
    for start in range(0, z.shape[0], chunk):
        zc = z[start:start + chunk].unsqueeze(1)  # [P, 1, M] against batch [n]
        out.append(torch.logsumexp(q.log_prob(zc), dim=1) - math.log(n))
    return torch.cat(out)


def image_rows_figure(rows: list[tuple[str, torch.Tensor]], width: float, height: float):
    """One titled row of 28 x 28 images per ``(title, images [n, 784 or 28, 28])``; the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), 1, figsize=(width, height))
    for ax, (title, images) in zip(axes, rows, strict=True):
        grid = image_grid(images.reshape(-1, 28, 28), 1).numpy()
        ax.imshow(grid, cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    fig.tight_layout()
    return fig
