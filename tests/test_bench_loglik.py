"""The k-sample log-likelihood benchmark of topic 06: a tiny end-to-end run, and the one-line
refusal of --device cuda without a GPU."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch

from autograder.paths import course_root

SCRIPT = str(course_root() / "bench" / "eval_loglik.py")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_a_gpu_fails_with_one_line(tmp_path):
    done = subprocess.run([sys.executable, SCRIPT, "--device", "cuda", "eval",
                           str(tmp_path / "model.pt")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no CUDA device" in lines[0], done.stderr


@pytest.mark.slow
@pytest.mark.exhaustive  # ~2 min of training
def test_tiny_train_and_chunked_evaluation(mnist_root, tmp_path):
    model, report = tmp_path / "iwae.pt", tmp_path / "eval.json"
    common = [sys.executable, SCRIPT, "--root", str(mnist_root)]
    train = subprocess.run(common + ["train", "--k", "3", "--epochs", "1", "--train-limit", "256",
                                     "--hidden", "16", "--latent", "2", "--out", str(model)],
                           capture_output=True, text=True, timeout=600)
    assert train.returncode == 0, train.stderr[-2000:]
    ev = subprocess.run(common + ["eval", str(model), "--k", "50", "--chunk", "7", "--batch", "8",
                                  "--images", "20", "--json", str(report)],
                        capture_output=True, text=True, timeout=600)
    assert ev.returncode == 0, ev.stderr[-2000:]
    result = json.loads(report.read_text())
    assert result["images"] == 20 and result["k"] == 50
    assert math.isfinite(result["nll"]) and result["nll"] > 0
    assert result["images_per_s"] > 0 and result["peak_rss_mb"] > 0
    assert "images/s" in ev.stdout and "peak CPU RSS" in ev.stdout and "MET" in ev.stdout
