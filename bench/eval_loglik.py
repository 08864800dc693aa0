"""Benchmark: test log-likelihood of a VAE / IWAE with k = 5000 importance samples, in bounded
memory (topic 06).

Two subcommands:

* ``train``: train the reference model of topic 06 (the graded classes are loaded from the
  solution notebook, their single source; MLPs from ``vaelib.models``) with the K-sample bound
  (K = 1 is the VAE) for a fixed number of epochs or a CPU-time budget, and save it;
* ``eval``: load a saved model and estimate log p(x) of the fixed test binarization with k
  samples per image, ``chunk`` samples at a time (the notebook's ``estimate_log_likelihood``,
  a running logsumexp), ``batch`` images at a time, with a progress bar. Prints images/s, the
  peak memory of the evaluation (CPU: peak RSS of the process and its increase over the phase;
  CUDA: ``max_memory_allocated``) and the test NLL.

    python bench/eval_loglik.py train --k 5 --cpu-seconds 600 --out runs/iwae5.pt
    python bench/eval_loglik.py eval runs/iwae5.pt --k 5000 --images 10000
    python bench/eval_loglik.py eval runs/iwae5.pt --device cuda      # on a GPU
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from peak_memory import PeakMemory, unmap_large_blocks_on_free  # noqa: E402

TOPIC = "06_iwae"
TARGET_MB = {"cpu": 3 * 1024, "cuda": 4 * 1024}
"""The memory targets for the k = 5000 evaluation (CPU RSS, GPU memory)."""


def reference_code() -> dict[str, Any]:
    """Execute the solution notebook's setup cells and the cells the bench needs."""
    from autograder.notebook_code import load_notebook_code
    from autograder.paths import solution_notebook

    code = load_notebook_code(solution_notebook(TOPIC))
    ns: dict[str, Any] = {"__name__": "reference"}
    for cell in code.cells_for(("IWAE", "estimate_log_likelihood")):
        exec(compile(cell.source, f"<{TOPIC} cell {cell.index}>", "exec"), ns)  # noqa: S102
    return ns


def build_model(ns: dict[str, Any], k: int, latent: int, hidden: int) -> torch.nn.Module:
    """VAE (k = 1) or IWAE (k > 1) with the reference MLPs."""
    from vaelib.models import decoder_net, encoder_net

    parts = (ns["GaussianPrior"](latent), ns["BernoulliDecoder"](decoder_net(latent, hidden)),
             ns["GaussianEncoder"](encoder_net(latent, hidden)))
    return ns["VAE"](*parts) if k == 1 else ns["IWAE"](*parts, k)


def check_device(device: str) -> None:
    """Exit with one line when CUDA is asked for but absent."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("error: --device cuda was given but no CUDA device is available "
                 "(torch.cuda.is_available() is False); use --device cpu")


def load_data(split: str, binarization: str, args: argparse.Namespace, limit: int | None
              ) -> Any:
    """A split on the device, or exit with one line saying how to get MNIST."""
    from vaelib.data import DataUnavailable, load_split

    try:
        return load_split(split, binarization, root=args.root, device=args.device, limit=limit)
    except (DataUnavailable, FileNotFoundError, RuntimeError) as exc:
        sys.exit(f"error: MNIST not available ({str(exc).splitlines()[0]}); set "
                 "$VAE_COURSE_DATA or pass --root (offline: python -m vaelib.data prepare)")


def train_command(args: argparse.Namespace) -> int:
    """Train for --epochs or --cpu-seconds (whichever ends first) and save the model."""
    ns = reference_code()
    torch.manual_seed(args.seed)
    model = build_model(ns, args.k, args.latent, args.hidden).to(args.device)
    data = load_data("train", "dynamic", args, args.train_limit)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(args.seed)
    start, cpu0 = time.perf_counter(), time.process_time()
    steps, epochs, last = 0, 0, float("nan")
    done = False
    while not done and epochs < args.epochs:
        for x in data.batches(args.batch, generator=gen):
            loss = model(x)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps, last = steps + 1, float(loss.detach())
            if time.process_time() - cpu0 > args.cpu_seconds:
                done = True
                break
        else:
            epochs += 1
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu0
    meta = {"k_train": args.k, "latent": args.latent, "hidden": args.hidden, "steps": steps,
            "epochs": steps * args.batch / len(data), "train_seconds": seconds,
            "train_cpu_seconds": cpu,
            "batch": args.batch, "lr": args.lr, "train_images": len(data),
            "device": args.device, "threads": torch.get_num_threads()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"meta": meta, "state_dict": model.state_dict()}, args.out)
    print(f"trained K = {args.k}: {steps} steps ({meta['epochs']:.2f} epochs) in "
          f"{seconds:.0f} s wall, {cpu:.0f} s CPU on {args.device} ({meta['threads']} threads); "
          f"last batch bound "
          f"{-last:.2f} nats -> {args.out}")
    return 0


def eval_command(args: argparse.Namespace) -> int:
    """Importance-sampled test log-likelihood with progress, throughput and peak memory."""
    from tqdm.auto import tqdm

    saved = torch.load(args.model, map_location="cpu", weights_only=True)
    meta = saved["meta"]
    ns = reference_code()
    model = build_model(ns, meta["k_train"], meta["latent"], meta["hidden"])
    model.load_state_dict(saved["state_dict"])
    model.to(args.device).eval()
    test = load_data("test", "fixed", args, args.images)
    unmap_large_blocks_on_free()
    torch.manual_seed(args.seed)
    total, count = 0.0, 0
    with PeakMemory(args.device) as peak:
        start = time.perf_counter()
        bar = tqdm(total=len(test), desc=f"log p(x), k = {args.k}", unit="img")
        for x in test.batches(args.batch, shuffle=False):
            values = ns["estimate_log_likelihood"](model, x, args.k, args.chunk)
            total += float(values.sum())
            count += x.shape[0]
            bar.update(x.shape[0])
            bar.set_postfix(nll=f"{-total / count:.2f}")
        bar.close()
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {"model": str(args.model), "meta": meta, "k": args.k, "chunk": args.chunk,
              "batch": args.batch, "images": count, "nll": -total / count,
              "seconds": seconds, "images_per_s": count / seconds, "device": args.device,
              "peak_rss_mb": rss_mb, "phase_peak_mb": peak.peak_mb, "phase_memory": peak.kind}
    kind = "cuda" if args.device.startswith("cuda") else "cpu"
    measured = peak.peak_mb if kind == "cuda" else rss_mb
    result["target_mb"], result["target_met"] = TARGET_MB[kind], measured <= TARGET_MB[kind]
    print(f"test NLL (k = {args.k}, {count} fixed-binarization test images): "
          f"{result['nll']:.2f} nats")
    print(f"{count / seconds:.1f} images/s ({seconds:.1f} s; chunk {args.chunk}, batch "
          f"{args.batch}, {args.device}, {torch.get_num_threads()} threads)")
    print(f"peak CPU RSS of the process: {rss_mb:.0f} MB; evaluation phase: "
          f"{peak.peak_mb:.0f} MB ({peak.kind})")
    print(f"target {'GPU memory' if kind == 'cuda' else 'RSS'} <= {TARGET_MB[kind]} MB: "
          f"{'MET' if result['target_met'] else 'NOT MET'}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--root", default=None, help="MNIST root (default $VAE_COURSE_DATA)")
    parser.add_argument("--seed", type=int, default=0)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train and save a VAE (k = 1) or IWAE")
    train.add_argument("--k", type=int, default=1, help="samples of the training bound")
    train.add_argument("--epochs", type=int, default=10**6)
    train.add_argument("--cpu-seconds", type=float, default=float("inf"),
                       help="training budget in CPU seconds of this process (all threads)")
    train.add_argument("--latent", type=int, default=16)
    train.add_argument("--hidden", type=int, default=512)
    train.add_argument("--batch", type=int, default=128)
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--train-limit", type=int, default=None)
    train.add_argument("--out", required=True)
    ev = sub.add_parser("eval", help="k-sample test log-likelihood of a saved model")
    ev.add_argument("model")
    ev.add_argument("--k", type=int, default=5000)
    ev.add_argument("--chunk", type=int, default=500, help="samples per image at a time")
    ev.add_argument("--batch", type=int, default=100, help="images at a time")
    ev.add_argument("--images", type=int, default=None, help="first N test images (all)")
    ev.add_argument("--json", default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    check_device(args.device)
    return train_command(args) if args.command == "train" else eval_command(args)


if __name__ == "__main__":
    raise SystemExit(main())
