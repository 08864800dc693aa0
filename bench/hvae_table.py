"""Reference numbers of topic 08: three two-layer hierarchical VAEs on binarized MNIST.

Trains, with the same networks, seed and budget, the solution notebook's
(1) bottom-up model without KL warm-up, (2) bottom-up with warm-up, (3) top-down with warm-up,
then evaluates each with the grader's own code (``autograder.trusted.hvae``) on the fixed test
binarization: test ELBO, importance-sampled log-likelihood with K samples, and active units per
layer (Burda et al., 2016: Var_x E_q[z_u|x] > 0.01). Prints a Markdown table and the budget.

    python bench/hvae_table.py --small            # CI-sized smoke run
    python bench/hvae_table.py --steps 1500 --hidden 128 --k 5000 --ll-images 100
                                                  # the lecture note's CPU table (1 thread)
    python bench/hvae_table.py --device cuda --steps 0 --epochs 3280 --batch 20 --m1 100 \\
        --m2 50 --hidden 200 --k 5000 --ll-images 10000  # Burda et al.'s scale, on a GPU
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TOPIC = "08_hierarchical_vae"
MODELS = (("bottom-up, no warm-up", "bottom_up", False), ("bottom-up + warm-up", "bottom_up", True),
          ("top-down + warm-up", "top_down", True))


def reference_classes() -> dict[str, Any]:
    """Execute the solution notebook's setup and graded cells; return their namespace."""
    from autograder.notebook_code import load_notebook_code
    from autograder.paths import solution_notebook

    code = load_notebook_code(solution_notebook(TOPIC))
    ns: dict[str, Any] = {"__name__": "reference"}
    for cell in code.cells_for(("BottomUpHVAE", "TopDownHVAE", "GaussianConditional",
                                "kl_warmup")):
        exec(compile(cell.source, f"<{TOPIC} cell {cell.index}>", "exec"), ns)  # noqa: S102
    return ns


def mlp(*sizes: int) -> nn.Sequential:
    """Linear layers with tanh in between (Burda et al. use tanh MLPs)."""
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), nn.Tanh()]
    return nn.Sequential(*layers[:-1])


def networks(kind: str, m1: int, m2: int, hidden: int) -> dict[str, nn.Module]:
    """Burda et al.'s two-layer shapes, scaled: x-h-h-z1, z1-h/2-h/2-z2, mirrored for p."""
    half = hidden // 2
    enc2 = (nn.Sequential(nn.Flatten(), mlp(784, hidden, hidden, 2 * m2)) if kind == "top_down"
            else mlp(m1, half, half, 2 * m2))
    return {"enc1": nn.Sequential(nn.Flatten(), mlp(784, hidden, hidden, 2 * m1)),
            "enc2": enc2, "p1": mlp(m2, half, half, 2 * m1),
            "dec": nn.Sequential(mlp(m1, hidden, hidden, 784), nn.Unflatten(-1, (28, 28)))}


def train_one(ns: dict[str, Any], kind: str, warm: bool, data: Any, args: argparse.Namespace
              ) -> tuple[dict[str, nn.Module], float]:
    """Adam with the notebook's loss and warm-up; returns the trained networks and seconds."""
    torch.manual_seed(args.seed)
    nets = networks(kind, args.m1, args.m2, args.hidden)
    cond = ns["GaussianConditional"]
    cls = ns["TopDownHVAE" if kind == "top_down" else "BottomUpHVAE"]
    model = cls(cond(nets["enc1"]), cond(nets["enc2"]), cond(nets["p1"]), nets["dec"],
                args.m2).to(args.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps = args.steps or args.epochs * math.ceil(len(data) / args.batch)
    warmup = int(args.warmup_fraction * steps) if warm else 0
    gen = torch.Generator().manual_seed(args.seed)
    start, step = time.perf_counter(), 0
    while step < steps:
        for x in data.batches(args.batch, generator=gen):
            loss = model(x, beta=ns["kl_warmup"](step, warmup))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            if step == steps:
                break
    return nets, time.perf_counter() - start


def evaluate(kind: str, nets: dict[str, nn.Module], x: torch.Tensor, args: argparse.Namespace
             ) -> dict[str, float]:
    """Test ELBO, importance-sampled log p(x) and active units, with the grader's code."""
    from autograder.trusted.hvae import active_units, from_nets, log_likelihood, mean_elbo

    model = from_nets(kind, nets, args.m2)
    torch.manual_seed(1)
    au1, au2 = active_units(model, x)
    return {"elbo": mean_elbo(model, x), "ll": log_likelihood(model, x[:args.ll_images], args.k),
            "au1": au1, "au2": au2}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--root", default=None, help="MNIST root (default $VAE_COURSE_DATA)")
    parser.add_argument("--steps", type=int, default=1500, help="Adam steps (0: use --epochs)")
    parser.add_argument("--epochs", type=int, default=0)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup-fraction", type=float, default=1 / 3)
    parser.add_argument("--m1", type=int, default=32)
    parser.add_argument("--m2", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--k", type=int, default=5000, help="importance samples")
    parser.add_argument("--ll-images", type=int, default=100)
    parser.add_argument("--train-images", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--small", action="store_true", help="CI-sized run")
    args = parser.parse_args(argv)
    if args.small:
        args.steps, args.k, args.ll_images, args.train_images = 200, 100, 50, 5000
        args.m1, args.m2, args.hidden = 16, 4, 64
    if args.steps:
        args.epochs = 0
    from vaelib.data import load_split

    ns = reference_classes()
    train = load_split("train", "dynamic", root=args.root, device=args.device,
                       limit=args.train_images)
    test = load_split("test", "fixed", root=args.root, device=args.device).binary()
    rows, total = [], time.perf_counter()
    for name, kind, warm in MODELS:
        nets, seconds = train_one(ns, kind, warm, train, args)
        rows.append((name, seconds, evaluate(kind, nets, test, args)))
        print(f"{name}: trained in {seconds:.0f} s", flush=True)
    steps = args.steps or f"{args.epochs} epochs"
    print(f"\nbudget: {steps} Adam steps of {args.batch} images (lr {args.lr}, warm-up over "
          f"the first {args.warmup_fraction:.0%} of the steps), {len(train)} training images, "
          f"M1 = {args.m1}, M2 = {args.m2}, hidden {args.hidden}, device {args.device}, "
          f"{torch.get_num_threads()} threads, total {time.perf_counter() - total:.0f} s\n")
    print(f"| model | test ELBO | log p(x), K = {args.k} ({args.ll_images} images) | "
          f"active z1 / {args.m1} | active z2 / {args.m2} | train s |")
    print("|---|---|---|---|---|---|")
    for name, seconds, r in rows:
        print(f"| {name} | {r['elbo']:.2f} | {r['ll']:.2f} | {r['au1']} | {r['au2']} | "
              f"{seconds:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
