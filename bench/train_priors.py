"""Reference numbers for topic 07: standard, mixture-of-Gaussians and VampPrior VAEs.

Trains three VAEs that differ only in their prior (the classes are loaded from
``solutions/07_priors/07_priors.ipynb``, their single source; the MLPs come from
``vaelib.models``), with the same seed, networks, optimiser and budget, and prints for each the
test ELBO (fixed binarization, all test images) and an importance-sampled log-likelihood with
``--ll-k`` samples per image on the first ``--ll-images`` test images. The VampPrior paper
(Tomczak & Welling, AISTATS 2018) reports -85.57 nats for a one-layer VAE with a VampPrior of
K = 500 pseudo-inputs on static MNIST (k = 5000 importance samples; pythae's benchmark
reproduced -85.79).

    python bench/train_priors.py --epochs 1                      # CPU budget (README figures)
    python bench/train_priors.py --epochs 200 --device cuda --ll-images 10000   # full scale
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TOPIC = "07_priors"
KINDS = ("standard", "MoG", "Vamp")


def reference_classes() -> dict[str, Any]:
    """Execute the solution notebook's setup and graded cells; return their namespace."""
    from autograder.notebook_code import load_notebook_code
    from autograder.paths import solution_notebook

    code = load_notebook_code(solution_notebook(TOPIC))
    ns: dict[str, Any] = {"__name__": "reference"}
    for cell in code.cells_for(("MoGPrior", "VampPrior", "elbo_mc_kl")):
        exec(compile(cell.source, f"<{TOPIC} cell {cell.index}>", "exec"), ns)  # noqa: S102
    return ns


def build(ns: dict[str, Any], kind: str, args: argparse.Namespace, train: Any) -> torch.nn.Module:
    """A VAE with the given prior; same initial networks for every kind (seed 0)."""
    from vaelib.models import decoder_net, encoder_net

    torch.manual_seed(0)
    encoder = ns["GaussianEncoder"](encoder_net(args.latent, args.hidden))
    decoder = ns["BernoulliDecoder"](decoder_net(args.latent, args.hidden))
    if kind == "standard":
        prior = ns["GaussianPrior"](args.latent)
    elif kind == "MoG":
        prior = ns["MoGPrior"](args.latent, args.k)
    else:
        gen = torch.Generator().manual_seed(0)
        init = train.intensities(torch.randperm(len(train), generator=gen)[: args.k])
        noisy = (init + 0.05 * torch.randn(init.shape, generator=gen).to(init)).clamp(0, 1)
        prior = ns["VampPrior"](args.latent, args.k, encoder, noisy)
    return ns["VAE"](prior, decoder, encoder).to(args.device)


@torch.no_grad()
def log_likelihood(model: torch.nn.Module, x: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    """Importance-sampled log p(x) per image ([B]) with q(z|x) as proposal, k samples drawn
    ``chunk`` at a time and combined with a running logsumexp."""
    q = model.encoder(x)
    prior = model.prior()
    acc = torch.full((x.shape[0],), -math.inf, dtype=torch.float64, device=x.device)
    for start in range(0, k, chunk):
        n = min(chunk, k - start)
        z = q.sample(torch.Size([n]))  # [n, B, M]
        log_px = model.decoder(z.reshape(-1, z.shape[-1])).log_prob(
            x.repeat(n, *([1] * (x.dim() - 1)))).reshape(n, -1)
        log_pz = prior.log_prob(z.reshape(-1, z.shape[-1])).reshape(n, -1)
        log_w = (log_px + log_pz - q.log_prob(z)).double()
        acc = torch.logaddexp(acc, torch.logsumexp(log_w, 0))
    return acc - math.log(k)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from vaelib.data import load_split
    from vaelib.training import evaluate_elbo, train

    if args.threads:
        torch.set_num_threads(args.threads)
    ns = reference_classes()
    train_data = load_split("train", "dynamic", device=args.device, limit=args.train_images)
    test_data = load_split("test", "fixed", device=args.device)
    ll_x = test_data.binary(slice(0, args.ll_images))
    results: dict[str, Any] = {"args": vars(args), "torch": torch.__version__, "models": {}}
    for kind in KINDS:
        model = build(ns, kind, args, train_data)
        start = time.perf_counter()
        log = train(model, train_data, epochs=args.epochs, batch_size=args.batch,
                    lr=args.lr, progress=False, generator=torch.Generator().manual_seed(0))
        seconds = time.perf_counter() - start
        torch.manual_seed(1)
        elbo = evaluate_elbo(model, test_data)
        start = time.perf_counter()
        lls = [log_likelihood(model, ll_x[i:i + args.ll_batch], args.ll_k, args.ll_chunk)
               for i in range(0, len(ll_x), args.ll_batch)]
        ll = float(torch.cat(lls).mean())
        results["models"][kind] = {"train_s": seconds, "steps": len(log.losses),
                                   "test_elbo": elbo, "log_likelihood": ll,
                                   "ll_s": time.perf_counter() - start}
        print(f"{kind:9s} prior: {len(log.losses)} steps in {seconds:.0f} s; test ELBO "
              f"{elbo:.2f} nats; log p(x) (k = {args.ll_k}, {len(ll_x)} images) {ll:.2f} nats",
              flush=True)
    return results


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--latent", type=int, default=40, help="M (the paper: 40)")
    parser.add_argument("--hidden", type=int, default=300, help="MLP width (the paper: 300)")
    parser.add_argument("--k", type=int, default=500, help="mixture components / pseudo-inputs")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--train-images", type=int, default=None)
    parser.add_argument("--ll-k", type=int, default=5000)
    parser.add_argument("--ll-images", type=int, default=100)
    parser.add_argument("--ll-batch", type=int, default=20)
    parser.add_argument("--ll-chunk", type=int, default=50)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    results = run(args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
