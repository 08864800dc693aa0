"""Drawing helpers shared by the figure modules: contours of 2-D Gaussians."""

from __future__ import annotations

import numpy as np


def ellipse(mean: np.ndarray, cov: np.ndarray, n_std: float = 2.0, n: int = 200) -> np.ndarray:
    """Points ``[n, 2]`` on the ``n_std``-standard-deviation contour of ``N(mean, cov)``."""
    vals, vecs = np.linalg.eigh(cov)
    t = np.linspace(0, 2 * np.pi, n)
    circle = np.stack([np.cos(t), np.sin(t)], 1)
    return np.asarray(mean) + n_std * (circle * np.sqrt(vals)) @ vecs.T
