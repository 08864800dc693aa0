"""False-failure rates of the grader's training and optimisation checks on correct answers.

Runs a check's own probe and judge in this process (no sandbox, CPU) on the reference
solution and on correct variants the notebooks allow, once per seed: the seed sets the check's
inputs and, for the checks that take ``init_seed``, the initialisation of the networks and of
the student's parameters. A failure of a correct answer is a false failure. Prints a table
(check, variant, seeds, failures, and the rate's 95 % upper bound).

    python bench/false_failure_rates.py                  # every measured check, 100 seeds
    python bench/false_failure_rates.py --seeds 20 --only priors.training
    python bench/false_failure_rates.py --only nothing --cosines   # gradient identities only
    python bench/false_failure_rates.py --only priors.training --old  # and the old criterion
    python bench/false_failure_rates.py --seeds 0 --mnist 20 --only vae.training  # hidden

The numbers and what is not measured are in docs/grading/training-checks.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autograder import payload  # noqa: E402
from autograder.checks.api import Check, CheckFailed, Judgement, ProbeContext  # noqa: E402
from autograder.notebook_code import load_notebook_code  # noqa: E402
from autograder.paths import solution_notebook  # noqa: E402
from autograder.registry import get_task  # noqa: E402
from autograder.seeding import seed_everything  # noqa: E402

# grade_id -> textual edits (old, new) of the solution cell, or the whole new source
Replace = dict[str, tuple[tuple[str, str], ...] | str]

# ------------------------------------------------------------------ correct variants
MOG = "MoGPrior_solution"
VAMP = "VampPrior_solution"
MOG_MEANS = "self.means = nn.Parameter(torch.randn(K, M))"
MOG_COMPONENTS = ("components = td.Independent(td.Normal(self.means, torch.exp(0.5 * "
                  "self.logvars)), 1)")
MOG_VARIANTS: dict[str, Replace] = {
    "reference (randn means, Independent(Normal))": {},
    "U(-2, 2) means": {MOG: ((MOG_MEANS, "self.means = nn.Parameter(torch.empty(K, M)"
                                         ".uniform_(-2.0, 2.0))"),)},
    "zeros + 0.1 noise means": {MOG: ((MOG_MEANS, "self.means = nn.Parameter(torch.zeros(K, M) "
                                                  "+ 0.1 * torch.randn(K, M))"),)},
    "U(-2, 2) means, MultivariateNormal components": {MOG: (
        (MOG_MEANS, "self.means = nn.Parameter(torch.empty(K, M).uniform_(-2.0, 2.0))"),
        (MOG_COMPONENTS, "components = td.MultivariateNormal(self.means, scale_tril="
                         "torch.diag_embed(torch.exp(0.5 * self.logvars)))"))},
}
VAMP_VARIANTS: dict[str, Replace] = {
    "VampPrior clamp(raw, 0, 1) pseudo-inputs": {VAMP: (
        ("u = pseudo_init.clamp(1e-3, 1 - 1e-3)\n        self.raw = nn.Parameter(torch.log(u) "
         "- torch.log1p(-u))", "self.raw = nn.Parameter(pseudo_init.clone())"),
        ("return torch.sigmoid(self.raw)", "return torch.clamp(self.raw, 0.0, 1.0)"))},
}
TD = "TopDownHVAE_solution"
HVAE_VARIANTS: dict[str, Replace] = {
    "reference": {},
    "top-down with Monte Carlo KLs": {TD: (
        ('"kl1": td.kl_divergence(q1, self.p_z1(z2))',
         '"kl1": q1.log_prob(z1) - self.p_z1(z2).log_prob(z1)'),
        ('"kl2": td.kl_divergence(q2, self.prior_z2())',
         '"kl2": q2.log_prob(z2) - self.prior_z2().log_prob(z2)'))},
}
VAE_VARIANTS: dict[str, Replace] = {
    "reference": {},
    "encoder and prior both diagonal MultivariateNormal": {
        "GaussianPrior_solution": (("td.Independent(td.Normal(loc=self.mean, scale=self.std), 1)",
                                    "td.MultivariateNormal(self.mean, scale_tril="
                                    "torch.diag(self.std))"),),
        "GaussianEncoder_solution": (
            ("td.Independent(td.Normal(loc=mean, scale=torch.exp(0.5 * logvar)), 1)",
             "td.MultivariateNormal(mean, scale_tril=torch.diag_embed(torch.exp(0.5 * "
             "logvar)))"),)},
}
REVERSE_SGD = '''
def fit_gaussian_reverse_kl(log_p, mu0, sigma0, steps, lr):
    mu = torch.as_tensor(mu0, dtype=torch.float32).clone().requires_grad_()
    raw = torch.log(torch.expm1(torch.as_tensor(sigma0, dtype=torch.float32))).requires_grad_()
    for _ in range(steps):
        sigma = torch.nn.functional.softplus(raw)
        x = mu + sigma * torch.randn(100, device=mu.device)
        loss = -torch.log(sigma) - log_p(x).mean()
        g_mu, g_raw = torch.autograd.grad(loss, [mu, raw])
        with torch.no_grad():
            mu -= lr * g_mu
            raw -= lr * g_raw
    return float(mu), float(torch.nn.functional.softplus(raw))
'''
REVERSE_TORCH_SGD = (("optimiser = torch.optim.Adam([mu, log_sigma], lr=lr)",
                      "optimiser = torch.optim.SGD([mu, log_sigma], lr=lr)"),)
REVERSE_ENTROPY = (("loss = (q.log_prob(x) - log_p(x)).mean()",
                    "loss = -q.entropy() - log_p(x).mean()"),)
REVERSE_VARIANTS: dict[str, Replace] = {
    "reference": {},
    "plain SGD on (mu, softplus^-1 sigma), 100 samples, closed-form entropy": {
        "fit_gaussian_reverse_kl_solution": REVERSE_SGD},
    "torch.optim.SGD on (mu, log sigma), 256 samples": {
        "fit_gaussian_reverse_kl_solution": REVERSE_TORCH_SGD},
    "Adam, closed-form entropy of q": {"fit_gaussian_reverse_kl_solution": REVERSE_ENTROPY},
}


def namespace(topic: str, replace: Replace) -> dict[str, Any]:
    """The solution notebook's setup and solution cells run in order, edited per grade_id."""
    code = load_notebook_code(solution_notebook(topic))
    ns: dict[str, Any] = {"__name__": f"bench_{topic}"}
    for cell in code.cells:
        edits = replace.get(cell.grade_id or "", ())
        source = edits if isinstance(edits, str) else cell.source
        for old, new in () if isinstance(edits, str) else edits:
            if old not in source:
                raise SystemExit(f"edit not applicable to {cell.grade_id}: {old!r}")
            source = source.replace(old, new)
        exec(compile(source, f"<{cell.grade_id or cell.index}>", "exec"), ns)  # noqa: S102
    return ns


def run_once(check: Check, ns: dict[str, Any], seed: int, init_seed: bool,
             outputs: list[Any] | None = None) -> str | None:
    """The check's verdict on ``ns`` for one seed: None when it passes, else the message
    (the probe's output is appended to ``outputs`` when given)."""
    base = check.inputs

    def inputs() -> dict[str, Any]:
        made = base()
        return {**made, "init_seed": seed} if init_seed else made

    check = dataclasses.replace(check, seed=seed, inputs=inputs)
    seed_everything(seed)
    blob = payload.dumps(payload.encode(check.inputs()))
    ctx = ProbeContext(torch.device("cpu"))
    seed_everything(seed)
    value = check.probe(ns, payload.loads(blob), ctx)
    got = payload.loads(payload.dumps(payload.encode(value)))
    if outputs is not None:
        outputs.append(got)
    try:
        check.judge(Judgement(payload.loads(blob), got, None, check.hidden, "cpu"))
    except CheckFailed as exc:
        return str(exc)
    return None


def find_check(task_id: str, prefix: str) -> Check:
    for check in get_task(task_id).checks:
        if check.name.startswith(prefix):
            return check
    raise SystemExit(f"{task_id} has no check starting with {prefix!r}")


# ------------------------------------------------- the previous priors.training criterion


def old_priors_smoke_fails(ns: dict[str, Any], seed: int) -> bool:
    """The criterion priors.training used before: 30 Adam steps at lr 0.05 on 32 images, the
    decoder's mean |sigmoid(bias) - pixel frequency| below 0.8 x its start (MoG and Vamp)."""
    from autograder.fixtures.training import finite_loss
    from autograder.topics.t07_priors import inputs as t7_inputs
    from autograder.topics.t07_priors import probes as t7

    seed_everything(seed)
    inputs = t7_inputs.smoke_inputs()
    x = inputs["x"]
    target = x.reshape(-1, t7.D).double().mean(0).clamp(0.02, 0.98)
    for kind in ("mog", "vamp"):
        torch.manual_seed(seed)
        enc_net, dec_net = t7.train_nets(t7.TRAIN_M, 32)
        encoder = ns["GaussianEncoder"](enc_net)
        prior = ns["MoGPrior"](t7.TRAIN_M, 3) if kind == "mog" else ns["VampPrior"](
            t7.TRAIN_M, 4, encoder, inputs["pseudo_init"])
        model = t7.Holder(encoder, ns["BernoulliDecoder"](dec_net), prior)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
        for _ in range(30):
            loss = finite_loss(lambda: -ns["elbo_mc_kl"](model, x).mean())  # noqa: B023
            if loss is None:  # diverged: the old check failed such runs too
                return True
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        start = float((0.5 - target).abs().mean())
        end = float((torch.sigmoid(dec_net[2].bias.detach().double()) - target).abs().mean())
        if not end < 0.8 * start:
            return True
    return False


# --------------------------------------------------------------------------- the plan
Row = tuple[str, str, str, str, dict[str, Replace], bool]
PLAN: list[Row] = [
    # label, topic, task, check-name prefix, variants, init_seed
    ("priors.training (public, gradient identity)", "07_priors", "priors.training",
     "with each learned prior", {**MOG_VARIANTS, **VAMP_VARIANTS}, True),
    ("priors.mog learnable (public)", "07_priors", "priors.mog",
     "weights, means and variances change", MOG_VARIANTS, False),
    ("priors.mog fit (hidden, held-out LL +1 nat)", "07_priors", "priors.mog",
     "weights, means and variances are learnable", MOG_VARIANTS, False),
    ("priors.vamp learning (public)", "07_priors", "priors.vamp", "gradients reach the shared",
     {"reference": {}, **VAMP_VARIANTS}, False),
    ("hvae.training (public, gradient identity)", "08_hierarchical_vae", "hvae.training",
     "gradients reach all four", HVAE_VARIANTS, True),
    ("vae.training smoke (public, loss < 0.9 x start)", "05_vae_binary_mnist", "vae.training",
     "smoke test", VAE_VARIANTS, False),
    ("iwae.training (public, first-step direction of the bias)", "06_iwae", "iwae.training",
     "gradients reach encoder and decoder", {"reference": {}}, False),
    ("kl.fit_reverse: single Gaussian from (0, 1)", "02_gaussian_kl", "kl.fit_reverse",
     "converges to a single", REVERSE_VARIANTS, False),
    ("kl.fit_reverse: one mode of a mixture", "02_gaussian_kl", "kl.fit_reverse",
     "locks onto one mode", REVERSE_VARIANTS, False),
    ("kl.fit_reverse: from a far, wide start", "02_gaussian_kl", "kl.fit_reverse",
     "converges to N(2, 0.5^2) from a far", REVERSE_VARIANTS, False),
    ("kl.fit_reverse: left mode from mu0 = -1", "02_gaussian_kl", "kl.fit_reverse",
     "locks onto the left mode", REVERSE_VARIANTS, False),
    ("kl.fit_forward (closed-form moments)", "02_gaussian_kl", "kl.fit_forward",
     "moment matching on 1-D", {"reference": {}}, False),
]


COSINE_PLAN = (("07_priors", "priors.training", "with each learned prior",
                {**MOG_VARIANTS, **VAMP_VARIANTS}, ("mog", "vamp")),
               ("08_hierarchical_vae", "hvae.training", "gradients reach all four", HVAE_VARIANTS,
                ("top_down", "bottom_up")))


def min_cosines(seeds: int) -> None:
    """For the gradient-identity checks: the smallest cosine between the loss's gradient on
    the decoder's output bias and the exact one, over the seeds (the check needs 0.99)."""
    from autograder.fixtures.training import bias_gradient_cosine

    print("\n| check | correct variant | seeds | smallest cosine |\n|---|---|---|---|")
    for topic, task_id, prefix, variants, kinds in COSINE_PLAN:
        check = find_check(task_id, prefix)
        for name, replace in variants.items():
            ns, low = namespace(topic, replace), 1.0
            for seed in range(seeds):
                seed_everything(seed)
                inputs = {**check.inputs(), "init_seed": seed}
                seed_everything(seed)
                got = check.probe(ns, inputs, ProbeContext(torch.device("cpu")))
                for kind in kinds:
                    cosine = bias_gradient_cosine(inputs["x"], got[kind]["logits"],
                                                  got[kind]["bias_grad"])
                    low = min(low, cosine if cosine is not None else -1.0)
            print(f"| {task_id} | {name} | {seeds} | {low:.7f} |", flush=True)


# ------------------------------------------------- the hidden trainings on MNIST
# label, topic, task, check-name prefix, variants, the student class whose construction
# reseeds the global generator (built right after the grader's fixed, seeded networks, so the
# seed sets the student's draws, and in 07 the prior's initialisation), the recorded value
MnistRow = tuple[str, str, str, str, dict[str, Replace], str, str]
MNIST_PLAN: list[MnistRow] = [
    ("vae.training (hidden): test ELBO > -170 after 300 steps", "05_vae_binary_mnist",
     "vae.training", "trains on MNIST", VAE_VARIANTS, "GaussianPrior", "vae"),
    ("iwae.training (hidden): K = 5 test bound > -160 after 300 steps", "06_iwae",
     "iwae.training", "K = ", {"reference": {}}, "IWAE", "iwae"),
    ("priors.training (hidden): MoG and Vamp within 10 nats of N(0, I), Vamp fewer holes",
     "07_priors", "priors.training", "learned priors train",
     {**MOG_VARIANTS, **VAMP_VARIANTS}, "GaussianEncoder", "priors"),
]


class Recorder:
    """Records what a trusted evaluation function returns while a judge runs."""

    def __init__(self, module: str, name: str) -> None:
        import importlib

        self.module, self.name = importlib.import_module(module), name
        self.values: list[Any] = []

    def __enter__(self) -> Recorder:
        original = self.original = getattr(self.module, self.name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            value = original(*args, **kwargs)
            self.values.append(value)
            return value

        setattr(self.module, self.name, wrapper)
        return self

    def __exit__(self, *exc: object) -> None:
        setattr(self.module, self.name, self.original)


def margin(kind: str, elbo: Recorder, holes: Recorder | None) -> float | None:
    """How far above its threshold the check's measured value was (nats; None if unmeasured)."""
    if not elbo.values:
        return None
    if kind == "vae":
        return float(elbo.values[0].elbo.mean()) + 170.0
    if kind == "iwae":
        return float(elbo.values[0]) + 160.0
    if len(elbo.values) < 3 or holes is None or len(holes.values) < 2:
        return None
    standard, mog, vamp = (float(v) for v in elbo.values[:3])
    # (learned, N(0, I)) pairs, one per prior the judge compares: the Vamp one (last)
    hole_gap = holes.values[-1]["right"] - holes.values[-2]["right"]
    print(f"  ELBO standard {standard:.1f}, MoG {mog:.1f}, Vamp {vamp:.1f}; holes learned < "
          f"standard by {hole_gap:.3f} (Vamp)", flush=True)
    return min(mog - standard + 10.0, vamp - standard + 10.0)


def reseeding(cls: type, seed: int) -> type:
    """``cls`` whose construction first seeds the global generator with ``seed``."""

    class Reseeded(cls):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            torch.manual_seed(seed)
            super().__init__(*args, **kwargs)

    Reseeded.__name__ = Reseeded.__qualname__ = cls.__name__
    return Reseeded


def measure_mnist(row: MnistRow, seeds: int, variant: str, first_seed: int = 0) -> None:
    """The hidden training check over seeds: failures, and the margin of the measured value
    over the threshold (mean, sd, smallest; the normal tail gives an approximate rate)."""
    import statistics

    from scipy.stats import norm

    label, topic, task_id, prefix, variants, reseeded, kind = row
    check = find_check(task_id, prefix)
    for name, replace in variants.items():
        if variant not in name:
            continue
        ns, margins, failures, start = namespace(topic, replace), [], 0, time.perf_counter()
        for seed in range(seeds):
            # the hidden judges import these by name: record them where they are called
            module = {"vae": ("autograder.topics.t05_vae_binary_mnist.hidden", "elbo_terms"),
                      "iwae": ("autograder.topics.t06_iwae.hidden", "evaluate_bound"),
                      "priors": ("autograder.trusted.priors", "test_elbo")}[kind]
            holes = Recorder("autograder.trusted.priors", "hole_fraction_exact")
            with Recorder(*module) as elbo, holes:
                message = run_once(check, {**ns, reseeded: reseeding(ns[reseeded], seed)},
                                   seed, False)
            failures += message is not None
            value = margin(kind, elbo, holes)
            margins.append(value)
            print(f"  seed {seed}: margin {value}, {message or 'pass'}"[:200], flush=True)
        known = [m for m in margins if m is not None]
        mean = statistics.fmean(known)
        sd = statistics.stdev(known) if len(known) > 1 else float("nan")
        print(f"| {label} | {name} | {seeds} | {failures} | {upper_95(failures, seeds):.3f} | "
              f"margin {mean:.1f} ± {sd:.1f} nats, smallest {min(known):.1f}; normal tail "
              f"{norm.sf(mean / sd):.1e} | {(time.perf_counter() - start) / seeds:.0f} s/seed |",
              flush=True)


def upper_95(failures: int, n: int) -> float:
    """One-sided 95 % upper bound of a failure probability from ``failures`` of ``n``
    (Clopper-Pearson; 3/n for none)."""
    if failures == 0:
        return 1 - 0.05 ** (1 / n)
    from scipy.stats import beta

    return float(beta.ppf(0.95, failures + 1, n - failures))


def reverse_margin(got: Any) -> float:
    """How far inside the kl.fit_reverse tolerances the fit ended (negative: outside): for
    N(2, 0.5^2), |mu - 2| <= 0.2 and |sigma - 0.5| <= 0.15; for the mixture, ||mu| - 3| <= 0.3
    and |sigma - 0.5| <= 0.2."""
    (mu, sigma), _ = got
    mu, sigma = float(mu), float(sigma)
    if abs(mu) > 2.5:  # the mixture's modes are at +-3, the Gaussian target at 2
        return min(0.3 - abs(abs(mu) - 3.0), 0.2 - abs(sigma - 0.5))
    return min(0.2 - abs(mu - 2.0), 0.15 - abs(sigma - 0.5))


MARGINS: dict[str, Callable[[Any], float]] = {"kl.fit_reverse": reverse_margin}


def spread(margins: list[float]) -> str:
    """'margin mean +- sd, smallest; normal tail' (the tail approximates the rate)."""
    import statistics

    from scipy.stats import norm

    if len(margins) < 2:
        return ""
    mean, sd = statistics.fmean(margins), statistics.stdev(margins)
    tail = norm.sf(mean / sd) if sd > 0 else 0.0
    return (f"margin {mean:.3g} ± {sd:.2g}, smallest {min(margins):.3g}; normal tail "
            f"{tail:.1e}")


def measure(label: str, topic: str, task_id: str, prefix: str, variants: dict[str, Replace],
            init_seed: bool, seeds: int, out: Callable[[str], None]) -> None:
    check = find_check(task_id, prefix)
    for name, replace in variants.items():
        ns = namespace(topic, replace)
        start = time.perf_counter()
        failures, first, outputs = 0, "", []
        for seed in range(seeds):
            message = run_once(check, ns, seed, init_seed, outputs)
            if message is not None:
                failures += 1
                first = first or f"seed {seed}: {message[:90]}"
        elapsed = time.perf_counter() - start
        margin_of = MARGINS.get(task_id)
        first = first or (spread([margin_of(g) for g in outputs]) if margin_of else "")
        out(f"| {label} | {name} | {seeds} | {failures} | {upper_95(failures, seeds):.3f} | "
            f"{elapsed / seeds:.2f} | {first} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--only", default="", help="measure only checks whose task id has "
                        "this prefix")
    parser.add_argument("--cosines", action="store_true", help="also print the smallest "
                        "cosine of the gradient-identity checks")
    parser.add_argument("--old", action="store_true", help="also measure the previous "
                        "priors.training criterion on the same seeds")
    parser.add_argument("--label", default="", help="measure only rows whose label contains "
                        "this (e.g. 'left mode')")
    parser.add_argument("--mnist", type=int, default=0, help="also run the hidden MNIST "
                        "trainings on this many seeds (seconds to a minute each)")
    parser.add_argument("--first-seed", type=int, default=0, help="with --mnist: the first "
                        "seed (to extend an earlier run with new seeds)")
    parser.add_argument("--variant", default="", help="with --mnist: only variants whose name "
                        "contains this")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| check | correct variant | seeds | failures | 95 % upper bound | s/seed | first "
          "failure, or the margin |")
    print("|---|---|---|---|---|---|---|")
    for label, topic, task_id, prefix, variants, init_seed in PLAN:
        if task_id.startswith(args.only) and args.label in label and args.seeds > 0:
            measure(label, topic, task_id, prefix, variants, init_seed, args.seeds,
                    lambda line: print(line, flush=True))
    for row in MNIST_PLAN if args.mnist else ():
        if row[2].startswith(args.only):
            measure_mnist(row, args.mnist, args.variant, args.first_seed)
    if args.cosines:
        min_cosines(args.seeds)
    if args.old and "priors.training".startswith(args.only):
        for name, replace in {**MOG_VARIANTS, **VAMP_VARIANTS}.items():
            ns = namespace("07_priors", replace)
            failures = sum(old_priors_smoke_fails(ns, s) for s in range(args.seeds))
            print(f"| priors.training, previous criterion (30 Adam steps, < 0.8 x start) | "
                  f"{name} | {args.seeds} | {failures} | {upper_95(failures, args.seeds):.3f} "
                  "| | |", flush=True)


if __name__ == "__main__":
    main()
