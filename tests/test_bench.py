"""The training benchmark: its memory probe, and an end-to-end run with the CI budget."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch

from autograder.paths import course_root

sys.path.insert(0, str(course_root() / "bench"))

from peak_memory import PeakMemory  # noqa: E402


def test_peak_memory_sees_a_large_tensor_held_during_the_phase():
    with PeakMemory("cpu") as held:
        block = torch.ones(25_000_000)  # 100 MB, written so its pages are resident
        block.add_(1)
    del block
    with PeakMemory("cpu") as idle:
        sum(range(1000))
    assert held.peak_mb >= 80, held.peak_mb
    assert idle.peak_mb < 40, idle.peak_mb


@pytest.mark.slow
@pytest.mark.exhaustive  # ~2 min of training
def test_small_benchmark_reports_both_pipelines_the_floor_and_the_targets(mnist_root, tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, str(course_root() / "bench" / "train_vae.py"),
                           "--small", "--root", str(mnist_root), "--json", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    text = done.stdout
    assert "tensor" in text and "dataloader" in text and "compute floor" in text
    assert "target epoch_ratio" in text and ("MET" in text)
    report = json.loads(out.read_text())
    for name in ("tensor", "dataloader"):
        figures = report["pipelines"][name]
        assert figures["images_per_epoch"] == 5_000
        assert len(figures["epoch_s"]) == 1 and figures["epoch_s"][0] > 0
        assert math.isfinite(figures["test_elbo"]) and figures["test_elbo"] < 0
    assert report["pipelines"]["tensor"]["ll_images"] == 500
    summary = report["summary"]
    assert report["compute_floor_s"] > 0 and summary["epoch_ratio"] > 0
    assert summary["epoch_ratio_ceiling"] > 0
    assert isinstance(summary["targets"]["epoch_ratio"]["met"], bool)


def test_benchmark_without_data_says_so_instead_of_a_traceback(tmp_path):
    done = subprocess.run([sys.executable, str(course_root() / "bench" / "train_vae.py"),
                           "--small", "--root", str(tmp_path / "nowhere")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "error:" in done.stderr
