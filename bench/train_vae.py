"""Benchmark: train the reference VAE of topic 05 with two data pipelines, side by side.

* ``tensor``: the course pipeline (``vaelib.data``): the split is one uint8 tensor on the
  device, batches are index slices of a permutation, binarized in one vectorised call;
* ``dataloader``: the conventional ``DataLoader`` + ``ToTensor`` + per-sample Bernoulli
  ``Lambda`` transform over ``torchvision.datasets.MNIST``.

Both train the same architecture (``vaelib.models``) with the same seed, batch size and
optimizer. The graded classes (GaussianPrior, GaussianEncoder, BernoulliDecoder, VAE) are
loaded from the solution notebook, their single source. Each pipeline runs in its own
process so its peak memory is its own. Reports per-epoch time, the time to only iterate the
data, peak memory, the test ELBO (fixed binarization) and, for the tensor pipeline's model,
an importance-sampled log-likelihood.

    python bench/train_vae.py --epochs 1            # full MNIST, ~1 min on 2 idle CPU cores
    python bench/train_vae.py --small               # CI: 5k images, < 1 min
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
TOPIC = "05_vae_binary_mnist"


def reference_classes() -> dict[str, Any]:
    """Execute the solution notebook's setup and graded cells; return their namespace."""
    sys.path.insert(0, str(ROOT))
    from autograder.notebook_code import load_notebook_code
    from autograder.paths import solution_notebook

    code = load_notebook_code(solution_notebook(TOPIC))
    ns: dict[str, Any] = {"__name__": "reference"}
    for cell in code.cells_for(("GaussianPrior", "GaussianEncoder", "BernoulliDecoder", "VAE")):
        exec(compile(cell.source, f"<{TOPIC} cell {cell.index}>", "exec"), ns)  # noqa: S102
    return ns


def build_model(ns: dict[str, Any], latent: int, hidden: int, device: str) -> torch.nn.Module:
    from vaelib.models import decoder_net, encoder_net

    decoder = ns["BernoulliDecoder"](decoder_net(latent, hidden))
    encoder = ns["GaussianEncoder"](encoder_net(latent, hidden))
    return ns["VAE"](ns["GaussianPrior"](latent), decoder, encoder).to(device)


def dataloader_batches(args: argparse.Namespace):
    """The conventional per-sample pipeline (a fresh Bernoulli draw per image, like dynamic)."""
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    from vaelib.data import data_root

    transform = transforms.Compose([
        transforms.ToTensor(),
        transforms.Lambda(lambda x: torch.bernoulli(x).squeeze(0)),
    ])
    ds = datasets.MNIST(str(data_root(args.root)), train=True, transform=transform,
                        download=False)
    if args.train_limit:
        ds = Subset(ds, range(args.train_limit))
    gen = torch.Generator().manual_seed(args.seed)
    return DataLoader(ds, batch_size=args.batch_size, shuffle=True, generator=gen,
                      num_workers=args.workers, pin_memory=args.device == "cuda")


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def run_pipeline(args: argparse.Namespace) -> dict[str, Any]:
    """Train with one pipeline; return its measurements."""
    from vaelib.data import load_split
    from vaelib.training import evaluate_elbo, evaluate_log_likelihood

    torch.set_num_threads(args.threads)
    device = args.device
    ns = reference_classes()
    torch.manual_seed(args.seed)
    model = build_model(ns, args.latent, args.hidden, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    if args.pipeline == "tensor":
        train = load_split("train", "dynamic", root=args.root, device=device,
                           limit=args.train_limit)
        gen = torch.Generator().manual_seed(args.seed)

        def epoch_batches():
            return train.batches(args.batch_size, generator=gen)
    else:
        loader = dataloader_batches(args)

        def epoch_batches():
            return (x.to(device, non_blocking=True) for x, _ in loader)

    # Time to only produce the batches of one epoch (no model).
    sync(device)
    start = time.perf_counter()
    n_seen = sum(int(x.shape[0]) for x in epoch_batches())
    sync(device)
    data_only = time.perf_counter() - start

    epoch_s, losses = [], []
    for _ in range(args.epochs):
        sync(device)
        start = time.perf_counter()
        for x in epoch_batches():
            loss = model(x)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
        sync(device)
        epoch_s.append(time.perf_counter() - start)
    peak_train = peak_memory_mb(device)
    model.eval()
    test = load_split("test", "fixed", root=args.root, device=device, limit=args.test_limit)
    torch.manual_seed(args.seed + 1)
    out = {
        "pipeline": args.pipeline, "device": device, "images_per_epoch": n_seen,
        "data_only_s": data_only, "epoch_s": epoch_s,
        "final_train_loss": float(torch.stack(losses[-50:]).mean()),
        "test_elbo": evaluate_elbo(model, test),
    }
    if args.pipeline == "tensor" and args.ll_k > 0:
        ll_test = test.subset(args.ll_images) if args.ll_images else test
        out["test_ll"] = evaluate_log_likelihood(model, ll_test, k=args.ll_k)
        out["ll_images"] = len(ll_test)
    out["peak_train_mb"] = peak_train
    out["peak_mem_mb"] = peak_memory_mb(device)
    out["peak_mem_kind"] = ("CUDA max_memory_allocated" if device == "cuda"
                            else "process peak RSS")
    return out


def peak_memory_mb(device: str) -> float:
    """Peak CUDA allocation on GPU, else the process's peak resident set size."""
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--small", action="store_true",
                   help="CI budget: 5k training images, 1 epoch, 1k test images, K=20 on 500")
    p.add_argument("--root", default=None, help="data root (default $VAE_COURSE_DATA or ./data)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--latent", type=int, default=16)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers (baseline)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-limit", type=int, default=None)
    p.add_argument("--test-limit", type=int, default=None)
    p.add_argument("--ll-k", type=int, default=100, help="importance samples for log p(x)")
    p.add_argument("--ll-images", type=int, default=2000, help="test images for log p(x)")
    p.add_argument("--pipelines", default="tensor,dataloader")
    p.add_argument("--pipeline", default=None, help=argparse.SUPPRESS)
    p.add_argument("--json", default=None, help="also write the results to this file")
    args = p.parse_args(argv)
    if args.small:
        args.epochs = 1
        args.train_limit = args.train_limit or 5_000
        args.test_limit = args.test_limit or 1_000
        args.ll_k, args.ll_images = 20, 500
    return args


def child_argv(args: argparse.Namespace, pipeline: str) -> list[str]:
    argv = [sys.executable, __file__, "--pipeline", pipeline]
    for name in ("epochs", "device", "root", "batch_size", "latent", "hidden", "lr", "threads",
                 "workers", "seed", "train_limit", "test_limit", "ll_k", "ll_images"):
        value = getattr(args, name)
        if value is not None:
            argv += [f"--{name.replace('_', '-')}", str(value)]
    return argv


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.pipeline:  # child: one pipeline, JSON on the last stdout line
        print(json.dumps(run_pipeline(args)))
        return 0
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but CUDA is not available", file=sys.stderr)
        return 1
    results = {}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for pipeline in args.pipelines.split(","):
        start = time.perf_counter()
        proc = subprocess.run(child_argv(args, pipeline), capture_output=True, text=True,
                              env=env, check=False)
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return proc.returncode
        results[pipeline] = json.loads(proc.stdout.strip().splitlines()[-1])
        results[pipeline]["wall_s"] = time.perf_counter() - start
    report(args, results)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results},
                                              indent=2))
    return 0


def report(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> None:
    cpu = f"{os.cpu_count()} cores, {args.threads} torch threads"
    print(f"device: {args.device} ({cpu}); torch {torch.__version__}; M={args.latent}, "
          f"hidden={args.hidden}, batch={args.batch_size}, epochs={args.epochs}")
    header = (f"{'pipeline':<11}{'images':>8}{'data-only s':>13}{'s/epoch':>10}{'img/s':>9}"
              f"{'train peak MB':>15}{'peak MB':>9}{'test ELBO':>11}")
    print(header)
    for name, r in results.items():
        per_epoch = sum(r["epoch_s"]) / len(r["epoch_s"])
        print(f"{name:<11}{r['images_per_epoch']:>8}{r['data_only_s']:>13.2f}{per_epoch:>10.2f}"
              f"{r['images_per_epoch'] / per_epoch:>9.0f}{r['peak_train_mb']:>15.0f}"
              f"{r['peak_mem_mb']:>9.0f}"
              f"{r['test_elbo']:>11.2f}")
    if {"tensor", "dataloader"} <= set(results):
        t, d = results["tensor"], results["dataloader"]
        epoch_ratio = (sum(d["epoch_s"]) / len(d["epoch_s"])) / (sum(t["epoch_s"]) /
                                                                 len(t["epoch_s"]))
        print(f"speed-up of the tensor pipeline: {epoch_ratio:.2f}x per training epoch, "
              f"{d['data_only_s'] / t['data_only_s']:.1f}x for producing the batches alone")
    t = results.get("tensor")
    if t and "test_ll" in t:
        print(f"reference VAE (tensor pipeline): test ELBO {t['test_elbo']:.2f} nats "
              f"(fixed binarization); importance-sampled log p(x) {t['test_ll']:.2f} nats "
              f"(K={args.ll_k}, first {t['ll_images']} test images)")


if __name__ == "__main__":
    raise SystemExit(main())
