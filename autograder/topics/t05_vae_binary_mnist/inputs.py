"""Inputs of topic 05's checks, built in the grading process (seeded by the caller)."""

from __future__ import annotations

import math
from typing import Any

import torch

from autograder.topics.t05_vae_binary_mnist.probes import CLASSES, CVAE_N, IMG, PATTERN_PIXELS, D

TRAIN_SUBSET = 10_000
CHECK_BATCH = 256
SHARP = 200.0  # logits SHARP * (z_k - a): pixel = 1 exactly when z_k > a, up to ~1e-5


def pair_inputs() -> dict[str, Any]:
    """Encoder network output h (identity network: [mean, logvar]) for 6 examples, M = 4."""
    return {"h": torch.randn(6, 8)}


def prior_inputs() -> dict[str, Any]:
    return {"M": 3, "z": torch.randn(5, 3)}


def prior_hidden_inputs() -> dict[str, Any]:
    return {"M": 7, "z": 2.0 * torch.randn(10, 7)}


def encoder_identity_inputs() -> dict[str, Any]:
    h = torch.randn(6, 8)
    return {"h": h, "z": torch.randn(6, 4)}


def linear_encoder_inputs(dtype: torch.dtype = torch.float32, m: int = 3) -> dict[str, Any]:
    return {"x": torch.bernoulli(torch.full((5, 3, 4), 0.4)).to(dtype),
            "W": 0.5 * torch.randn(2 * m, 12, dtype=dtype), "b": torch.randn(2 * m, dtype=dtype),
            "z": torch.randn(5, m, dtype=dtype)}


def decoder_inputs(dtype: torch.dtype = torch.float32, m: int = 3) -> dict[str, Any]:
    return {"z": torch.randn(5, m, dtype=dtype), "W": torch.randn(D, m, dtype=dtype),
            "c": torch.randn(D, dtype=dtype),
            "x": torch.bernoulli(torch.full((5, *IMG), 0.3)).to(dtype)}


def decoder_hand_inputs() -> dict[str, Any]:
    """z [3, 1] = 0, log 3, -log 3 and a network giving every pixel the logit z: the pixel
    probabilities are 1/2, 3/4 and 1/4."""
    z = torch.tensor([[0.0], [math.log(3.0)], [-math.log(3.0)]])
    return {"z": z, "W": torch.ones(D, 1), "c": torch.zeros(D),
            "x": torch.bernoulli(torch.full((3, *IMG), 0.3))}


def elbo_inputs(dtype: torch.dtype = torch.float32, mean: tuple[float, float] = (1.5, -2.0),
                logvar: tuple[float, float] = (-2.0, -1.0)) -> dict[str, Any]:
    """One image x, replicated ELBO_N times, with a fixed q(z|x) and a linear decoder."""
    return {"W": 0.3 * torch.randn(D, 2, dtype=dtype), "c": torch.randn(D, dtype=dtype),
            "x": torch.bernoulli(torch.full(IMG, 0.3)).to(dtype),
            "q_mean": torch.tensor(mean, dtype=dtype), "q_logvar": torch.tensor(logvar,
                                                                                dtype=dtype)}


def elbo_hand_inputs() -> dict[str, Any]:
    """A decoder that ignores z (W = 0, logits c = 0: every pixel has probability 1/2), so
    E_q[log p(x|z)] = -784 log 2 exactly, and q = N((1.5, -2), diag(exp(-2), exp(-1)))."""
    inputs = elbo_inputs()
    inputs["W"], inputs["c"] = torch.zeros(D, 2), torch.zeros(D)
    return inputs


def grad_inputs(dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    """q far from p = N(0, I), so that the KL's gradient is large against the Monte Carlo
    noise of the reconstruction term's: dropping either part is detected."""
    inputs = elbo_inputs(dtype, (2.0, -1.5), (-1.5, 0.8))
    inputs["W"] = 0.3 * torch.randn(D, 2, dtype=dtype)
    return inputs


def grad_hand_inputs() -> dict[str, Any]:
    """An all-ones image and logits = z_1 for every pixel (z_2 unused): the reconstruction
    term pulls q's first mean up, and only the KL acts on q's second coordinate."""
    inputs = elbo_inputs(torch.float32, (2.0, -1.5), (-1.5, 0.8))
    inputs["W"] = torch.cat([torch.ones(D, 1), torch.zeros(D, 1)], dim=1)
    inputs["c"] = torch.zeros(D)
    inputs["x"] = torch.ones(IMG)
    return inputs


def sample_inputs(dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    inputs = elbo_inputs(dtype)
    inputs["W"] = 1.5 * torch.randn(D, 2, dtype=dtype)
    return inputs


def sample_hand_inputs() -> dict[str, Any]:
    """Three groups of pixels with marginals known by hand: logits 200 (z_1 - 1) (p = P(z_1 >
    1)), 200 (z_2 + 1/2) (p = P(z_2 > -1/2)) and log 3 whatever z (p = 3/4)."""
    inputs = elbo_inputs()
    third = D // 3
    W, c = torch.zeros(D, 2), torch.full((D,), math.log(3.0))
    W[:third, 0], c[:third] = SHARP, -SHARP
    W[third:2 * third, 1], c[third:2 * third] = SHARP, 0.5 * SHARP
    inputs["W"], inputs["c"] = W, c
    return inputs


def training_inputs() -> dict[str, Any]:
    """Training images only: grey levels to train on, and a fixed-binarized batch of other
    training images on which the trained classes' own elbo(x) is recorded (for diagnosis)."""
    from autograder.paths import course_root
    from vaelib.data import binarize, data_root, has_mnist, load_mnist_uint8, to_unit

    root = data_root()
    if not has_mnist(root) and has_mnist(course_root() / "data"):
        root = course_root() / "data"
    images, _ = load_mnist_uint8("train", root, download=False)
    held = images[TRAIN_SUBSET:TRAIN_SUBSET + CHECK_BATCH]
    return {"train": images[:TRAIN_SUBSET].clone(),
            "check_x": binarize(to_unit(held), "fixed")}


def smoke_inputs() -> dict[str, Any]:
    """A batch of 32 random binary images (pixels on with probability 0.1); no MNIST."""
    return {"x": torch.bernoulli(torch.full((32, *IMG), 0.1))}




# ------------------------------------------------------------- conditional VAE (vae.conditional)
def one_hot(labels: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.nn.functional.one_hot(labels, CLASSES).to(dtype)


def cvae_inputs(n: int = 6, m: int = 3, dtype: torch.dtype = torch.float32,
                decoder_scale: float = 0.3) -> dict[str, Any]:
    """n binary images with random labels (one-hot), a fixed linear encoder network on
    [x.flatten(1), y] -> [mean, logvar] and a linear decoder network on [z, y] -> 784 logits."""
    labels = torch.randint(0, CLASSES, (n,))
    return {"M": m, "x": torch.bernoulli(torch.full((n, *IMG), 0.3)).to(dtype),
            "y": one_hot(labels, dtype), "y_other": one_hot((labels + 3) % CLASSES, dtype),
            "z": torch.randn(n, m, dtype=dtype),
            "We": 0.04 * torch.randn(2 * m, D + CLASSES, dtype=dtype),
            "be": 0.5 * torch.randn(2 * m, dtype=dtype),
            "Wd": decoder_scale * torch.randn(D, m + CLASSES, dtype=dtype),
            "cd": torch.randn(D, dtype=dtype)}


def cvae_elbo_hand_inputs() -> dict[str, Any]:
    """CVAE_N examples and a decoder whose logits are 0 whatever z and y: log p(x|z, y) =
    -784 log 2 exactly, so elbo(x, y) = -784 log 2 - KL (or its one-draw estimate)."""
    inputs = cvae_inputs(CVAE_N, 2)
    inputs["Wd"], inputs["cd"] = torch.zeros_like(inputs["Wd"]), torch.zeros_like(inputs["cd"])
    return inputs


def cvae_sample_inputs(digit: int = 3) -> dict[str, Any]:
    """A decoder that draws pixel d (d < 700) on exactly when the label is d mod 10, and the
    last 84 pixels with probability 1/2; z is unused."""
    inputs = cvae_inputs(4, 2)
    Wd, cd = torch.zeros(D, 2 + CLASSES), torch.full((D,), -SHARP / 2)
    pixels = torch.arange(PATTERN_PIXELS)
    Wd[pixels, 2 + pixels % CLASSES] = SHARP
    cd[PATTERN_PIXELS:] = 0.0
    inputs.update(Wd=Wd, cd=cd, digit=digit)
    return inputs


def cvae_smoke_inputs() -> dict[str, Any]:
    """32 random binary images (pixels on with probability 0.1) with random one-hot labels."""
    return {"x": torch.bernoulli(torch.full((32, *IMG), 0.1)),
            "y": one_hot(torch.randint(0, CLASSES, (32,)))}


def cvae_label_inputs(n: int = 1000) -> dict[str, Any]:
    """n images of ten patterns: pixel d is on with probability 0.9 when d mod 10 is the
    image's label, 0.05 otherwise."""
    labels = torch.randint(0, CLASSES, (n,))
    on = (torch.arange(D)[None, :] % CLASSES) == labels[:, None]
    x = torch.bernoulli(torch.where(on, 0.9, 0.05)).reshape(n, *IMG)
    return {"x": x, "y": one_hot(labels)}
