"""Benchmark: train the reference VAE of topic 05 with two data pipelines, side by side.

* ``tensor``: the course pipeline (``vaelib.data``): the split is one uint8 tensor on the
  device, an epoch is a permutation, gathered and binarized in large vectorised chunks;
* ``dataloader``: the conventional baseline, ``torchvision.datasets.MNIST`` + ``DataLoader``
  + ``ToTensor`` + a per-sample Bernoulli ``Lambda`` transform.

Both run in the same process on the same device, with identically initialised copies of the
same model (the graded classes loaded from the solution notebook, the MLPs of
``vaelib.models``), seed, batch size and optimizer. Their epochs are interleaved (the order
alternates every epoch) so that a change in machine load hits both. A third identical model is
trained on pre-made batches, with no data pipeline at all: its epoch time is the compute floor,
and ``baseline epoch / floor`` is the largest per-epoch speed-up any data pipeline could reach.

Printed: per-epoch time, the time to only produce one epoch of batches, the compute floor,
peak memory per pipeline, the test ELBO (fixed binarization) and an importance-sampled
log-likelihood of the tensor pipeline's model.

    python bench/train_vae.py --epochs 1            # full MNIST, about a minute on 2 CPU cores
    python bench/train_vae.py --small               # CI budget: 5k images, well under a minute
    python bench/train_vae.py --device cuda         # on a GPU
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from statistics import fmean as mean
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from peak_memory import PeakMemory, memory_kind, unmap_large_blocks_on_free  # noqa: E402

TOPIC = "05_vae_binary_mnist"
PIPELINES = ("tensor", "dataloader")
TARGETS = {"cpu": {"epoch_ratio": 5.0}, "cuda": {"epoch_ratio": 30.0, "epoch_s": 0.5}}
"""The targets: speed-up per epoch over the baseline, and (GPU) seconds per epoch."""

Batches = Callable[[], Iterable[torch.Tensor]]


def reference_classes() -> dict[str, Any]:
    """Execute the solution notebook's setup and graded cells; return their namespace."""
    from autograder.notebook_code import load_notebook_code
    from autograder.paths import solution_notebook

    code = load_notebook_code(solution_notebook(TOPIC))
    ns: dict[str, Any] = {"__name__": "reference"}
    for cell in code.cells_for(("GaussianPrior", "GaussianEncoder", "BernoulliDecoder", "VAE")):
        exec(compile(cell.source, f"<{TOPIC} cell {cell.index}>", "exec"), ns)  # noqa: S102
    return ns


def build_model(ns: dict[str, Any], latent: int, hidden: int, device: str) -> torch.nn.Module:
    """The reference VAE (standard-normal prior, Gaussian encoder, Bernoulli decoder)."""
    from vaelib.models import decoder_net, encoder_net

    decoder = ns["BernoulliDecoder"](decoder_net(latent, hidden))
    encoder = ns["GaussianEncoder"](encoder_net(latent, hidden))
    return ns["VAE"](ns["GaussianPrior"](latent), decoder, encoder).to(device)


def tensor_pipeline(args: argparse.Namespace) -> Batches:
    """The course pipeline: one uint8 tensor on the device, batches by index permutation."""
    from vaelib.data import load_split

    train = load_split("train", "dynamic", root=args.root, device=args.device,
                       limit=args.train_limit)
    gen = torch.Generator().manual_seed(args.seed)
    return lambda: train.batches(args.batch_size, generator=gen)


def dataloader_pipeline(args: argparse.Namespace) -> Batches:
    """The conventional per-sample pipeline (a fresh Bernoulli draw per image, like dynamic)."""
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    from vaelib.data import data_root

    transform = transforms.Compose([
        transforms.ToTensor(),
        transforms.Lambda(lambda x: torch.bernoulli(x).squeeze(0)),
    ])
    dataset = datasets.MNIST(str(data_root(args.root)), train=True, transform=transform,
                             download=False)
    if args.train_limit:
        dataset = Subset(dataset, range(args.train_limit))
    gen = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, generator=gen,
                        num_workers=args.workers, pin_memory=args.device == "cuda")
    return lambda: (x.to(args.device, non_blocking=True) for x, _ in loader)


def sync(device: str) -> None:
    """Wait for queued GPU work so that wall-clock timings are complete."""
    if device == "cuda":
        torch.cuda.synchronize()


def timed(device: str, work: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds ``work()`` takes (GPU work included) and its result."""
    sync(device)
    start = time.perf_counter()
    result = work()
    sync(device)
    return time.perf_counter() - start, result


def train_epoch(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                batches: Iterable[torch.Tensor]) -> list[torch.Tensor]:
    """One pass of Adam on -ELBO; the detached batch losses."""
    losses = []
    for x in batches:
        loss = model(x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    return losses


def premade_batches(batches: Iterable[torch.Tensor], steps: int) -> Iterator[torch.Tensor]:
    """``steps`` batches cycled from a small pool made beforehand: training with no data cost."""
    pool = [x.clone() for x in itertools.islice(batches, 16)]
    return itertools.islice(itertools.cycle(pool), steps)


def compute_floor(initial: torch.nn.Module, batches: Batches, steps: int,
                  args: argparse.Namespace) -> float:
    """Seconds for ``steps`` training steps of a copy of ``initial`` on pre-made batches."""
    model = copy.deepcopy(initial)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    train_epoch(model, optimizer, premade_batches(batches(), 8))  # warm-up
    seconds, _ = timed(args.device, lambda: train_epoch(
        model, optimizer, premade_batches(batches(), steps)))
    return seconds


def alternating(names: tuple[str, ...], round_index: int) -> tuple[str, ...]:
    """``names`` in order on even rounds, reversed on odd ones (fair under drifting load)."""
    return names if round_index % 2 == 0 else names[::-1]


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Build both pipelines and three identical models; measure; return the figures."""
    from autograder.trusted.likelihood import evaluate_log_likelihood
    from vaelib.data import load_split
    from vaelib.training import evaluate_elbo

    torch.set_num_threads(args.threads)
    if args.device == "cpu":
        unmap_large_blocks_on_free()
    ns = reference_classes()
    torch.manual_seed(args.seed)
    initial = build_model(ns, args.latent, args.hidden, args.device)
    import torchvision.datasets  # noqa: F401  (both pipelines' imports, outside the memory figures)

    makers = {"tensor": tensor_pipeline, "dataloader": dataloader_pipeline}
    out: dict[str, Any] = {name: {} for name in PIPELINES}
    pipelines: dict[str, Batches] = {}
    for name in PIPELINES:
        with PeakMemory(args.device) as memory:
            pipelines[name] = makers[name](args)
        out[name]["setup_peak_mb"] = memory.peak_mb

    # Only producing the batches of an epoch (no model); two rounds, alternating order.
    for round_index in range(args.data_rounds):
        for name in alternating(PIPELINES, round_index):
            with PeakMemory(args.device) as memory:
                seconds, count = timed(args.device,
                                       lambda b=pipelines[name]: sum(len(x) for x in b()))
            out[name].setdefault("data_only_s", []).append(seconds)
            out[name]["images_per_epoch"] = count
            out[name]["data_peak_mb"] = max(memory.peak_mb, out[name].get("data_peak_mb", 0.0))
    steps = -(-out["tensor"]["images_per_epoch"] // args.batch_size)

    floor_s = compute_floor(initial, pipelines["tensor"], steps, args)

    models = {name: copy.deepcopy(initial) for name in PIPELINES}
    optimizers = {name: torch.optim.Adam(models[name].parameters(), lr=args.lr)
                  for name in PIPELINES}
    losses: dict[str, list[torch.Tensor]] = {name: [] for name in PIPELINES}
    for epoch in range(args.epochs):
        for name in alternating(PIPELINES, epoch):
            with PeakMemory(args.device) as memory:
                seconds, batch_losses = timed(args.device, lambda n=name: train_epoch(
                    models[n], optimizers[n], pipelines[n]()))
            losses[name] += batch_losses
            out[name].setdefault("epoch_s", []).append(seconds)
            out[name]["train_peak_mb"] = max(memory.peak_mb,
                                             out[name].get("train_peak_mb", 0.0))

    test = load_split("test", "fixed", root=args.root, device=args.device,
                      limit=args.test_limit)
    for name in PIPELINES:
        models[name].eval()
        torch.manual_seed(args.seed + 1)
        out[name]["final_train_loss"] = float(torch.stack(losses[name][-50:]).mean())
        out[name]["test_elbo"] = evaluate_elbo(models[name], test)
    if args.ll_k > 0:
        ll_test = test.subset(args.ll_images) if args.ll_images else test
        torch.manual_seed(args.seed + 2)
        out["tensor"]["test_ll"] = evaluate_log_likelihood(models["tensor"], ll_test,
                                                           k=args.ll_k)
        out["tensor"]["ll_images"] = len(ll_test)
    return {"pipelines": out, "compute_floor_s": floor_s, "steps_per_epoch": steps,
            "memory_kind": memory_kind(args.device), "summary": summary(args, out, floor_s)}


def summary(args: argparse.Namespace, out: dict[str, Any], floor_s: float) -> dict[str, Any]:
    """Speed-ups, the ceiling the compute floor puts on them, and the targets met or not."""
    tensor_epoch = mean(out["tensor"]["epoch_s"])
    baseline_epoch = mean(out["dataloader"]["epoch_s"])
    result = {
        "epoch_ratio": baseline_epoch / tensor_epoch,
        "data_only_ratio": mean(out["dataloader"]["data_only_s"]) / mean(
            out["tensor"]["data_only_s"]),
        "epoch_ratio_ceiling": baseline_epoch / floor_s,
        "tensor_epoch_s": tensor_epoch,
        "baseline_epoch_s": baseline_epoch,
    }
    targets = TARGETS[args.device]
    result["targets"] = {
        "epoch_ratio": {"target": targets["epoch_ratio"],
                        "met": result["epoch_ratio"] >= targets["epoch_ratio"]}}
    if "epoch_s" in targets:
        result["targets"]["epoch_s"] = {"target": targets["epoch_s"],
                                        "met": tensor_epoch <= targets["epoch_s"]}
    return result


def report(args: argparse.Namespace, results: dict[str, Any]) -> None:
    """Print the figures as a table and a few sentences."""
    out, s = results["pipelines"], results["summary"]
    device = (torch.cuda.get_device_name() if args.device == "cuda"
              else f"CPU, {os.cpu_count()} cores")
    print(f"device: {device}; {args.threads} torch threads; torch {torch.__version__}; "
          f"M={args.latent}, hidden={args.hidden}, batch={args.batch_size}, "
          f"epochs={args.epochs}")
    print(f"{'pipeline':<11}{'images':>8}{'data-only s':>13}{'s/epoch':>10}{'img/s':>9}"
          f"{'setup MB':>10}{'data MB':>9}{'train MB':>10}{'test ELBO':>11}")
    for name in PIPELINES:
        r = out[name]
        epoch = mean(r["epoch_s"])
        print(f"{name:<11}{r['images_per_epoch']:>8}{mean(r['data_only_s']):>13.2f}"
              f"{epoch:>10.2f}{r['images_per_epoch'] / epoch:>9.0f}"
              f"{r['setup_peak_mb']:>10.0f}{r['data_peak_mb']:>9.0f}{r['train_peak_mb']:>10.0f}"
              f"{r['test_elbo']:>11.2f}")
    print(f"memory (MB): {results['memory_kind']}, while building the pipeline (setup), "
          f"producing one epoch of batches (data) and training one epoch (train)")
    print(f"compute floor (same model on pre-made batches): {results['compute_floor_s']:.2f} "
          f"s/epoch")
    for key, target in s["targets"].items():
        value = s["epoch_ratio"] if key == "epoch_ratio" else s["tensor_epoch_s"]
        unit = "x" if key == "epoch_ratio" else " s"
        bound = "at least" if key == "epoch_ratio" else "at most"
        print(f"target {key}: {bound} {target['target']}{unit}; measured {value:.2f}{unit}: "
              f"{'MET' if target['met'] else 'NOT MET'}")
    print(f"speed-up of the tensor pipeline: {s['epoch_ratio']:.2f}x per training epoch, "
          f"{s['data_only_ratio']:.1f}x for producing the batches alone; the compute floor "
          f"caps any pipeline's per-epoch speed-up over this baseline at "
          f"{s['epoch_ratio_ceiling']:.2f}x")
    t = out["tensor"]
    if "test_ll" in t:
        print(f"reference VAE (tensor pipeline): test ELBO {t['test_elbo']:.2f} nats "
              f"(fixed binarization); importance-sampled log p(x) {t['test_ll']:.2f} nats "
              f"(K={args.ll_k}, first {t['ll_images']} test images)")


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
    p.add_argument("--data-rounds", type=int, default=2,
                   help="data-only epochs per pipeline (alternating order)")
    p.add_argument("--train-limit", type=int, default=None)
    p.add_argument("--test-limit", type=int, default=None)
    p.add_argument("--ll-k", type=int, default=100, help="importance samples for log p(x)")
    p.add_argument("--ll-images", type=int, default=2000, help="test images for log p(x)")
    p.add_argument("--json", default=None, help="also write the results to this file")
    args = p.parse_args(argv)
    if args.small:
        args.epochs = 1
        args.train_limit = args.train_limit or 5_000
        args.test_limit = args.test_limit or 1_000
        args.ll_k, args.ll_images = 20, 500
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but CUDA is not available", file=sys.stderr)
        return 1
    from vaelib.data import DataUnavailable

    try:
        results = run(args)
    except DataUnavailable as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    report(args, results)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"args": vars(args), **results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
