"""The training benchmark runs end to end with its CI budget and prints both pipelines."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from autograder.paths import course_root


@pytest.mark.slow
def test_small_benchmark_reports_both_pipelines_and_a_ratio(mnist_root, tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, str(course_root() / "bench" / "train_vae.py"),
                           "--small", "--root", str(mnist_root), "--json", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    text = done.stdout.lower()
    assert "tensor" in text and "dataloader" in text and "elbo" in text
    report = json.loads(out.read_text())
    assert report, "the JSON report is empty"
