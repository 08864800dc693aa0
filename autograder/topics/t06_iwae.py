"""Topic 06: the importance-weighted autoencoder (Burda et al., 2016). Checks for the six graded
functions/classes and a training run.

Log weights are laid out [K, B]: sample index first, example second. Most checks drive the
student's code with a PPCA model on tiny 3x4 "images" (p(z) = N(0, I_2), p(x|z) =
N(W z + b, s^2 I)) whose columns of W are orthogonal, so the exact posterior is a diagonal
Gaussian: with it as q every log weight equals log p(x) (zero variance), and with a poorer q
the ELBO and its gradient are analytic. The judges' reference numbers (exact log p(x), Monte
Carlo expectations of the bound and of gradient estimators, the trained model's test bound)
come from the grader-only ``autograder/trusted/iwae.py``, imported inside hidden judges only;
public checks use closed forms of tiny cases (a decoder that ignores z, weights whose means are
known). Statistical checks state their false-failure rate (``FALSE_FAILURE_RATE``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.distributions as td
from torch import nn

from autograder.checks.api import Check, CheckFailed, Judgement, ProbeContext, Task
from autograder.checks.compare import expect_close, expect_finite, expect_tensor, is_close
from autograder.checks.stats import FALSE_FAILURE_RATE, normal_threshold
from autograder.checks.training import nan_parameters
from autograder.topics.t05_vae_binary_mnist import FixedPrior, _mlp

TOPIC = "06_iwae"
F64 = torch.float64
IMG = (3, 4)
D = IMG[0] * IMG[1]
M = 2
NOISE = 0.5

LAYOUT = ("log weights are laid out [K, B]: sample index first, example second (a [B, K] "
          "result mixes up the two)")
MIXED = ("samples grouped across examples ([B, K] vs [K, B] mix-up): log_w[k, b] must pair "
         "z_k ~ q(z|x_b) with the same x_b; when you repeat x or flatten z, use the same order "
         "for both (e.g. x.repeat(k, ...) goes with z.reshape(k * B, ...), and the result "
         "is reshaped back with .view(k, B))")

# ----------------------------------------------------------------- fixed modules


class GaussianImageDecoder(nn.Module):
    """p(x|z) = N(W z + b, s^2 I) over 3x4 images, for z of any leading shape [..., M]."""

    def __init__(self, W: torch.Tensor, b: torch.Tensor, s: float, learn: bool = False) -> None:
        super().__init__()
        self.s = s
        self.max_rows = 0
        if learn:
            self.W, self.b = nn.Parameter(W.clone()), nn.Parameter(b.clone())
        else:
            self.register_buffer("W", W.clone())
            self.register_buffer("b", b.clone())

    def forward(self, z: torch.Tensor) -> td.Distribution:
        self.max_rows = max(self.max_rows, z.reshape(-1, z.shape[-1]).shape[0])
        mean = (z @ self.W.T + self.b).reshape(*z.shape[:-1], *IMG)
        return td.Independent(td.Normal(mean, torch.full_like(mean, self.s),
                                         validate_args=False), 2)


class LinearEncoder(nn.Module):
    """q(z|x) = N(A flat(x) + c, diag exp(logvar)): linear in x, so any repeat order works."""

    def __init__(self, A: torch.Tensor, c: torch.Tensor, logvar: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("A", A.clone())
        self.register_buffer("c", c.clone())
        self.register_buffer("logvar", logvar.clone())

    def forward(self, x: torch.Tensor) -> td.Distribution:
        mean = x.reshape(*x.shape[:-2], D) @ self.A.T + self.c
        return td.Independent(td.Normal(mean, torch.exp(0.5 * self.logvar).expand_as(mean)), 1)


class RowEncoder(nn.Module):
    """q(z|x_i) = N(theta_i[:M], exp(theta_i[M:])): one free parameter row per example (a batch
    that repeats the examples r times, x.repeat(r, ...), reuses the rows in the same order)."""

    def __init__(self, theta: torch.Tensor) -> None:
        super().__init__()
        self.theta = nn.Parameter(theta.clone())

    def forward(self, x: torch.Tensor) -> td.Distribution:
        n = self.theta.shape[0]
        if x.shape[0] % n:
            raise ValueError("the encoder was called on a batch of the wrong size")
        theta = self.theta.repeat(x.shape[0] // n, 1)
        mean, logvar = theta.chunk(2, dim=-1)
        scale = (0.5 * logvar).exp()
        return td.Independent(td.Normal(mean, scale), 1)


class Model(nn.Module):
    """A topic-05-style model: ``prior()``, ``encoder(x)``, ``decoder(z)``."""

    def __init__(self, prior: nn.Module, decoder: nn.Module, encoder: nn.Module) -> None:
        super().__init__()
        self.prior, self.decoder, self.encoder = prior, decoder, encoder


# ------------------------------------------------------------------ PPCA inputs


def ppca_inputs(dtype: torch.dtype = F64, n: int = 6, exact: bool = True, same_x: bool = False,
                scales: tuple[float, float] = (2.0, 1.2)) -> dict[str, Any]:
    """PPCA with orthogonal columns, examples x (very different log p(x) unless ``same_x``) and
    the linear map of the exact (``exact``) or a poorer posterior."""
    Q, _ = torch.linalg.qr(torch.randn(D, M, dtype=F64))
    W = Q * torch.tensor(scales, dtype=F64)
    b = torch.randn(D, dtype=F64)
    if same_x:
        x = (b + 0.5 * torch.randn(D, dtype=F64)).expand(n, D)
    else:
        spread = 1.0 + 1.5 * torch.arange(n, dtype=F64)[:, None]
        x = b + spread * torch.randn(n, D, dtype=F64)
    lam2 = (W**2).sum(0)
    A = W.T / (lam2 + NOISE**2)[:, None]
    logvar = torch.log(NOISE**2 / (lam2 + NOISE**2))
    if not exact:
        A, logvar = 0.6 * A, logvar + 1.0
    c = -A @ b + (0.0 if exact else 0.4)
    return {k: v.to(dtype).contiguous() for k, v in
            {"W": W, "b": b, "x": x.reshape(n, *IMG), "A": A, "c": c, "logvar": logvar}.items()}


def linear_model(inputs: dict[str, Any], ctx: ProbeContext, learn: bool = False) -> Model:
    """The PPCA model with the linear encoder of ``inputs``, on the probe's device."""
    dtype = inputs["W"].dtype
    decoder = GaussianImageDecoder(inputs["W"], inputs["b"], NOISE, learn)
    encoder = LinearEncoder(inputs["A"], inputs["c"], inputs["logvar"])
    return Model(FixedPrior(M, dtype), decoder, encoder).to(ctx.device)


def q_params(inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean [B, M] and log-variance [M] of the linear encoder on the inputs' x."""
    flat = inputs["x"].reshape(inputs["x"].shape[0], D).to(F64)
    return flat @ inputs["A"].to(F64).T + inputs["c"].to(F64), inputs["logvar"].to(F64)


def exact_log_px(inputs: dict[str, Any]) -> torch.Tensor:
    from autograder.trusted.iwae import ppca_log_marginal

    return ppca_log_marginal(inputs["x"], inputs["W"], inputs["b"], NOISE)


def exact_elbo(inputs: dict[str, Any]) -> torch.Tensor:
    from autograder.trusted.iwae import ppca_elbo

    mean, logvar = q_params(inputs)
    return ppca_elbo(inputs["x"], inputs["W"], inputs["b"], NOISE, mean, logvar)


def detached(value: Any) -> Any:
    return value.detach() if isinstance(value, torch.Tensor) else value


def two_sample_z(got: torch.Tensor, ref: torch.Tensor) -> tuple[float, float, float]:
    """(mean of got, mean of ref, |difference| in combined standard errors) of iid draws."""
    g, r = got.detach().to(F64).reshape(-1), ref.detach().to(F64).reshape(-1)
    se = math.sqrt(float(g.var()) / g.numel() + float(r.var()) / r.numel())
    diff = abs(float(g.mean() - r.mean()))
    return float(g.mean()), float(r.mean()), diff / (se + 1e-9 * (1 + abs(float(r.mean()))))


def mixing_hint(got: torch.Tensor, per_example: torch.Tensor) -> str | None:
    """MIXED when the entries of column b are (some of) other examples' exact values."""
    g = got.detach().to(F64)
    close = (g[..., None] - per_example.to(F64)).abs() <= 1e-6 * (1 + per_example.abs().to(F64))
    owners = close.any(-1)
    if bool(owners.all()) and not bool(close[..., torch.arange(g.shape[1]), torch.arange(
            g.shape[1])].all()):
        return MIXED
    return None


def expect_kb(got: Any, k: int, n: int, what: str, dtype: torch.dtype, device: str
              ) -> torch.Tensor:
    """A [K, B] tensor of the right dtype/device, naming the [B, K] mix-up."""
    if isinstance(got, torch.Tensor) and tuple(got.shape) == (n, k) and k != n:
        raise CheckFailed(f"{what} has shape [B, K] = {[n, k]}: {LAYOUT}.")
    value = expect_tensor(got, what, shape=(k, n), dtype=dtype, device=device)
    expect_finite(value, what)
    return value


# ----------------------------------------------------------- iwae.log_weights
LW_K = 5


def probe_log_weights(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    model = linear_model(inputs, ctx)
    return detached(ns["log_importance_weights"](model, inputs["x"], inputs.get("k", LW_K)))


def judge_log_weights_exact(j: Judgement) -> None:
    x = j.inputs["x"]
    n = x.shape[0]
    got = expect_kb(j.got, LW_K, n, f"log_importance_weights(model, x, {LW_K})", x.dtype,
                    j.device)
    log_px = exact_log_px(j.inputs).to(x.dtype)
    expected = log_px.expand(LW_K, n)
    if is_close(got, expected, rtol=1e-6, atol=1e-6):
        return
    hint = mixing_hint(got, log_px)
    if hint is None and bool((got.std(0) > 1e-6 * (1 + got.abs().mean(0))).any()):
        hint = (f"{MIXED}; or a term of log w = log p(x|z) + log p(z) - log q(z|x) is missing "
                "(with the exact posterior as q every weight is the same number, log p(x))")
    raise CheckFailed("q is the exact posterior of a PPCA model, so every log weight must equal "
                      "log p(x_b) whatever z is (zero-variance weights); it does not (max error "
                      f"{float((got - expected).abs().max()):.3g})."
                      + (f" Likely cause: {hint}." if hint else ""))


GRAD_ROWS = 2000
GRAD_K = 2


def grad_inputs(dtype: torch.dtype = F64) -> dict[str, Any]:
    inputs = ppca_inputs(dtype, GRAD_ROWS, exact=False, same_x=True)
    mean, logvar = q_params(inputs)
    inputs["theta"] = torch.cat([mean[0], logvar]).expand(GRAD_ROWS, 2 * M).to(dtype).clone()
    return inputs


def row_model(inputs: dict[str, Any], ctx: ProbeContext, learn: bool = False
              ) -> tuple[Model, RowEncoder]:
    dtype = inputs["W"].dtype
    encoder = RowEncoder(inputs["theta"])
    decoder = GaussianImageDecoder(inputs["W"], inputs["b"], NOISE, learn)
    return Model(FixedPrior(M, dtype), decoder, encoder).to(ctx.device), encoder


def probe_log_weights_grad(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext
                           ) -> Any:
    model, encoder = row_model(inputs, ctx)
    log_w = ns["log_importance_weights"](model, inputs["x"], GRAD_K)
    if isinstance(log_w, torch.Tensor) and log_w.requires_grad:
        log_w.sum().backward()
    return encoder.theta.grad


def _encoder_grad(j: Judgement) -> torch.Tensor:
    """The per-example gradient of log_w.sum() w.r.t. q's [mean, logvar], [GRAD_ROWS, 2M]."""
    if j.got is None:
        raise CheckFailed("no gradient reached q's parameters: draw z with q.rsample() (the "
                          "reparameterisation trick), not q.sample(), and keep the graph (no "
                          ".detach() / torch.no_grad()).")
    grad = expect_tensor(j.got, "the gradient of log_w.sum() w.r.t. q's parameters",
                         shape=(GRAD_ROWS, 2 * M)).to(F64)
    expect_finite(grad, "the encoder's gradient")
    return grad


def judge_log_weights_grad(j: Judgement) -> None:
    from autograder.trusted.iwae import ppca_elbo_gradient

    grad = _encoder_grad(j)
    theta = j.inputs["theta"][0]
    expected = GRAD_K * ppca_elbo_gradient(j.inputs["x"][:1], j.inputs["W"], j.inputs["b"],
                                           NOISE, theta[:M], theta[M:])
    mean, se = grad.mean(0), grad.std(0) / math.sqrt(GRAD_ROWS)
    limit = normal_threshold(FALSE_FAILURE_RATE / (2 * M))
    z = (mean - expected).abs() / (se + 1e-9)
    if bool((z <= limit).all()):
        return
    if bool(((mean.abs() / (se + 1e-9)) <= limit).all()):
        raise CheckFailed("the log weights pass no pathwise gradient to q's parameters (their "
                          "expected gradient is 0): z must be drawn with q.rsample(), not "
                          "q.sample(), which detaches z.")
    raise CheckFailed(f"the average gradient of log_w.sum() w.r.t. q's [mean, logvar] is "
                      f"{[round(v, 3) for v in mean.tolist()]}, expected K x d ELBO = "
                      f"{[round(v, 3) for v in expected.tolist()]} (max z = "
                      f"{float(z.max()):.1f}, threshold {limit:.1f} at false-failure rate "
                      f"{FALSE_FAILURE_RATE:g}).")


LW_MEAN_ROWS = 4000


def lw_mean_inputs() -> dict[str, Any]:
    inputs = ppca_inputs(torch.float32, LW_MEAN_ROWS, exact=False, same_x=True)
    inputs["k"] = 3
    return inputs


def judge_log_weights_mean(j: Judgement) -> None:
    x, k = j.inputs["x"], j.inputs["k"]
    got = expect_kb(j.got, k, x.shape[0], f"log_importance_weights(model, x, {k})", x.dtype,
                    j.device)
    expected = float(exact_elbo(j.inputs)[0])
    v = got.to(F64).reshape(-1)
    se = float(v.std()) / math.sqrt(v.numel())
    z = abs(float(v.mean()) - expected) / (se + 1e-5 * abs(expected))
    if z > normal_threshold():
        raise CheckFailed(f"the average log weight is {float(v.mean()):.3f} ± {se:.3f}; in "
                          f"expectation it is the ELBO (z = {z:.1f}, false-failure rate "
                          f"{FALSE_FAILURE_RATE:g}): log w = log p(x|z) + log p(z) - log q(z|x) "
                          "with z ~ q(z|x).")


# -------------------------------------------------------------------- iwae.bound


def bound_inputs(dtype: torch.dtype = F64) -> dict[str, Any]:
    k, n = 7, 5
    log_w = torch.randn(k, n, dtype=dtype) * torch.tensor([1.0, 3.0, 10.0, 2.0, 0.5], dtype=dtype)
    log_w = log_w + torch.tensor([-800.0, 800.0, 0.0, -40.0, 80.0], dtype=dtype)
    return {"log_w": log_w}


def probe_bound(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    return {"full": detached(ns["iwae_bound"](inputs["log_w"])),
            "one": detached(ns["iwae_bound"](inputs["log_w"][:1]))}


def expect_stable_bound(got: torch.Tensor) -> None:
    """Name the naive log(mean(exp)) when the bound is not finite on extreme log weights."""
    if not bool(torch.isfinite(got).all()):
        raise CheckFailed("iwae_bound is not finite for log weights around -800 and +800: the "
                          "naive log(mean(exp(log_w))) overflows/underflows; use "
                          "torch.logsumexp(log_w, 0) - log K (or subtract the max first).")


def judge_bound(j: Judgement) -> None:
    from autograder.trusted.iwae import bound

    log_w = j.inputs["log_w"]
    k = log_w.shape[0]
    _judge_bound_values(j, bound(log_w), "iwae_bound(log_w)", {
        "the max is taken per sample instead of per example (logsumexp over dim 0)":
            torch.logsumexp(log_w - log_w.max(), 0) + log_w.max() - math.log(k)})


def _judge_bound_values(j: Judgement, expected: torch.Tensor, what: str,
                        extra_hints: dict[str, torch.Tensor] | None = None) -> None:
    """iwae_bound(log_w) is ``expected`` ([B], stable) and iwae_bound(log_w[:1]) is log_w[0]."""
    log_w = j.inputs["log_w"]
    k, n = log_w.shape
    got = j.got.get("full") if isinstance(j.got, dict) else j.got
    if isinstance(got, torch.Tensor) and tuple(got.shape) == (k,):
        raise CheckFailed(f"iwae_bound returned shape [K] = [{k}]: average over the samples, "
                          f"dim 0 ({LAYOUT}).")
    got = expect_tensor(got, "iwae_bound(log_w)", shape=(n,), dtype=log_w.dtype,
                        device=j.device)
    expect_stable_bound(got)
    expect_close(got, expected, what, reveal=True, hints={
        "the mean of the log weights is the ELBO, not the IWAE bound: take the log of the "
        "mean of the weights, logsumexp(log_w, 0) - log K": log_w.mean(0),
        "the -log K is missing: the bound is log of the MEAN of the weights, "
        "logsumexp(log_w, 0) - log K": expected + math.log(k),
        **(extra_hints or {}),
    })
    one = expect_tensor(j.got.get("one"), "iwae_bound(log_w[:1])", shape=(n,))
    expect_close(one, log_w[0], "iwae_bound for K = 1 (it equals the single log weight, the "
                 "ELBO estimate)", reveal=True)


def judge_bound_reference(j: Judgement) -> None:
    n = j.inputs["log_w"].shape[1]
    got = j.got.get("full") if isinstance(j.got, dict) else j.got
    got = expect_tensor(got, "iwae_bound(log_w)", shape=(n,), dtype=j.inputs["log_w"].dtype)
    expect_stable_bound(got)
    expect_close(got, j.ref["full"], "iwae_bound(log_w) in float32", reveal=False)


# -------------------------------------------------------------------- iwae.model
MODEL_K = 7


def probe_model_exact(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    base = linear_model(inputs, ctx)
    model = ns["IWAE"](base.prior, base.decoder, base.encoder, inputs.get("k", MODEL_K))
    x = inputs["x"]
    return {"elbo": detached(model.elbo(x)), "loss": detached(model(x)),
            "sample": detached(model.sample(3))}


def judge_model_exact(j: Judgement) -> None:
    _judge_model_values(j, exact_log_px(j.inputs), "with the exact posterior as q")


def _judge_model_values(j: Judgement, log_px: torch.Tensor, setting: str) -> None:
    """elbo(x) [B] equals log_px (every weight is p(x)); forward is -elbo.mean(); sample(3)."""
    x = j.inputs["x"]
    n = x.shape[0]
    got = j.got if isinstance(j.got, dict) else {}
    elbo = got.get("elbo")
    if isinstance(elbo, torch.Tensor) and elbo.dim() == 0:
        raise CheckFailed("IWAE.elbo(x) returned one number: return one bound per example, "
                          f"shape [B] = [{n}] (forward() takes the batch mean).")
    elbo = expect_tensor(elbo, "IWAE.elbo(x)", shape=(n,), dtype=x.dtype, device=j.device)
    log_px = log_px.to(x.dtype)
    expect_close(elbo, log_px, f"IWAE(..., k={MODEL_K}).elbo(x) {setting} (every weight equals "
                 "p(x), so the bound is log p(x))", reveal=True, rtol=1e-6, atol=1e-6,
                 hints={"the -log K is missing": log_px + math.log(MODEL_K)})
    loss = expect_tensor(got.get("loss"), "IWAE(...)(x)", device=j.device)
    if loss.numel() != 1 or abs(float(loss) + float(log_px.mean())) > 1e-6 * (
            1 + abs(float(log_px.mean()))):
        raise CheckFailed("IWAE's forward(x) must stay the loss -elbo(x).mean() (a scalar).")
    expect_tensor(got.get("sample"), "IWAE.sample(3)", shape=(3, *IMG), device=j.device)


K1_ROWS = 4000


def k1_inputs() -> dict[str, Any]:
    inputs = ppca_inputs(F64, K1_ROWS, exact=False, same_x=True)
    inputs["k"] = 1
    return inputs


def judge_model_k1(j: Judgement) -> None:
    x = j.inputs["x"]
    got = j.got if isinstance(j.got, dict) else {}
    elbo = expect_tensor(got.get("elbo"), "IWAE(..., k=1).elbo(x)", shape=(x.shape[0],),
                         dtype=x.dtype, device=j.device)
    expect_finite(elbo, "IWAE.elbo(x)")
    expected = float(exact_elbo(j.inputs)[0])
    se = float(elbo.std()) / math.sqrt(elbo.numel())
    z = abs(float(elbo.mean()) - expected) / (se + 1e-9)
    if z > normal_threshold():
        raise CheckFailed(f"with k = 1 the IWAE bound is the ELBO, but the average of "
                          f"{elbo.numel()} draws of elbo(x) is {float(elbo.mean()):.3f} ± "
                          f"{se:.3f} against the exact ELBO {expected:.3f} (z = {z:.1f}, "
                          f"false-failure rate {FALSE_FAILURE_RATE:g}).")


MONO_KS = (1, 8, 64)
MONO_ROWS = 1500
MONO_REF_ROWS = 15_000


def mono_inputs() -> dict[str, Any]:
    return ppca_inputs(F64, MONO_ROWS, exact=False, same_x=True)


def probe_model_mono(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    base = linear_model(inputs, ctx)
    return [detached(ns["IWAE"](base.prior, base.decoder, base.encoder, k).elbo(inputs["x"]))
            for k in MONO_KS]


def judge_model_mono(j: Judgement) -> None:
    from autograder.trusted.iwae import mc_bound_draws

    got = j.got if isinstance(j.got, list) else []
    if len(got) != len(MONO_KS):
        raise CheckFailed("IWAE.elbo(x) did not return a bound for every K tried.")
    ref_inputs = dict(j.inputs, x=j.inputs["x"][:1].expand(MONO_REF_ROWS, *IMG))
    model = linear_model(ref_inputs, ProbeContext(torch.device("cpu")))
    limit = normal_threshold(FALSE_FAILURE_RATE / len(MONO_KS))
    means = []
    for k, values in zip(MONO_KS, got, strict=True):
        values = expect_tensor(values, f"IWAE(..., k={k}).elbo(x)", shape=(MONO_ROWS,))
        expect_finite(values, f"IWAE(..., k={k}).elbo(x)")
        gen_state = torch.get_rng_state()
        torch.manual_seed(1000 + k)
        ref = mc_bound_draws(model, ref_inputs["x"], k)
        torch.set_rng_state(gen_state)
        mean, ref_mean, z = two_sample_z(values, ref)
        means.append(mean)
        if z > limit:
            hint = ""
            if k > 1 and abs(mean - means[0]) < 0.1 * abs(ref_mean - means[0]):
                hint = (" The bound does not grow with K: average the weights, not the log "
                        "weights (the mean of log weights is the ELBO for every K).")
            raise CheckFailed(f"E[bound] for K = {k}: {mean:.3f} from your IWAE, "
                              f"{ref_mean:.3f} expected (z = {z:.1f}, threshold {limit:.1f}, "
                              f"false-failure rate {FALSE_FAILURE_RATE:g}); the expected "
                              f"bound must increase with K towards log p(x).{hint}")


# ------------------------------------------------------------------- iwae.loglik
LL_K, LL_CHUNK = 5000, 300


def probe_loglik(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    model = linear_model(inputs, ctx)
    k, chunk = inputs.get("k", LL_K), inputs.get("chunk", LL_CHUNK)
    value = ns["estimate_log_likelihood"](model, inputs["x"], k, chunk)
    return {"value": detached(value), "max_rows": model.decoder.max_rows}


def _loglik_value(j: Judgement) -> torch.Tensor:
    x = j.inputs["x"]
    got = j.got if isinstance(j.got, dict) else {}
    value = expect_tensor(got.get("value"), "estimate_log_likelihood(model, x, k, chunk)",
                          shape=(x.shape[0],), dtype=x.dtype, device=j.device)
    expect_finite(value, "estimate_log_likelihood")
    n, chunk = x.shape[0], j.inputs.get("chunk", LL_CHUNK)
    if int(got.get("max_rows", 0)) > chunk * n:
        raise CheckFailed(f"the decoder was called on {got['max_rows']} samples at once, more "
                          f"than chunk x B = {chunk * n}: memory grows with k. Draw and "
                          "evaluate `chunk` samples at a time and combine them with a running "
                          "logsumexp.")
    return value


def judge_loglik_exact(j: Judgement) -> None:
    value = _loglik_value(j)
    log_px = exact_log_px(j.inputs).to(value.dtype)
    k = LL_K
    expect_close(value, log_px, f"estimate_log_likelihood(model, x, k={k}, chunk={LL_CHUNK}) "
                 "with the exact posterior as q (every weight is p(x))", reveal=True,
                 rtol=1e-6, atol=1e-6, hints={
                     "the chunks are combined with the wrong count: the estimate is "
                     "logsumexp over all k log weights minus log k (the last chunk may be "
                     "smaller)": log_px + math.log(k) - math.log(math.ceil(k / LL_CHUNK)
                                                                   * LL_CHUNK),
                     "the -log k is missing": log_px + math.log(k),
                 })


BIAS_K, BIAS_CHUNK, BIAS_ROWS, BIAS_REF_ROWS = 1000, 50, 200, 1500


def bias_inputs() -> dict[str, Any]:
    inputs = ppca_inputs(F64, BIAS_ROWS, exact=False, same_x=True, scales=(3.0, 2.0))
    inputs.update(k=BIAS_K, chunk=BIAS_CHUNK)
    return inputs


def judge_loglik_combined(j: Judgement) -> None:
    from autograder.trusted.iwae import mc_bound_draws

    value = _loglik_value(j)
    ref_inputs = dict(j.inputs, x=j.inputs["x"][:1].expand(BIAS_REF_ROWS, *IMG))
    model = linear_model(ref_inputs, ProbeContext(torch.device("cpu")))
    torch.manual_seed(7)
    ref = mc_bound_draws(model, ref_inputs["x"], BIAS_K)
    mean, ref_mean, z = two_sample_z(value, ref)
    limit = normal_threshold(FALSE_FAILURE_RATE / 2)
    if z <= limit:
        return
    bug = mc_bound_draws(model, ref_inputs["x"], BIAS_K, BIAS_CHUNK)
    hint = ""
    if two_sample_z(value, bug)[2] <= limit:
        hint = (" Likely cause: the per-chunk estimates are averaged; that is the mean of "
                f"{BIAS_K // BIAS_CHUNK} bounds with K = {BIAS_CHUNK}, which is looser. Keep a "
                "running logsumexp of all log weights and subtract log k once at the end.")
    raise CheckFailed(f"the average estimate of log p(x) (k = {BIAS_K}, chunk = {BIAS_CHUNK}) "
                      f"is {mean:.3f}, expected {ref_mean:.3f} (z = {z:.1f}, threshold "
                      f"{limit:.1f}, false-failure rate {FALSE_FAILURE_RATE:g}).{hint}")


# ---------------------------------------------------------------------- iwae.ess


def ess_inputs(dtype: torch.dtype = F64) -> dict[str, Any]:
    log_w = bound_inputs(dtype)["log_w"]
    log_w[:, 2] = 3.0                  # equal weights: ESS = K
    log_w[:, 3] = -600.0
    log_w[0, 3] = -100.0               # one weight dominates: ESS = 1
    return {"log_w": log_w}


def probe_ess(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    return detached(ns["effective_sample_size"](inputs["log_w"]))


def _ess_got(j: Judgement) -> torch.Tensor:
    """The ESS per example, [B], of the right dtype/device and finite (bugs named)."""
    log_w = j.inputs["log_w"]
    k, n = log_w.shape
    got = j.got
    if isinstance(got, torch.Tensor) and tuple(got.shape) == (k,):
        raise CheckFailed(f"effective_sample_size returned shape [K]: sum over the samples, "
                          f"dim 0 ({LAYOUT}).")
    got = expect_tensor(got, "effective_sample_size(log_w)", shape=(n,), dtype=log_w.dtype,
                        device=j.device)
    if not bool(torch.isfinite(got).all()):
        raise CheckFailed("the ESS is not finite for log weights around -800 and +800: "
                          "exponentiating raw log weights overflows; compute it from normalised "
                          "weights (softmax over dim 0) or with logsumexp.")
    return got


def judge_ess(j: Judgement) -> None:
    from autograder.trusted.iwae import ess

    log_w = j.inputs["log_w"]
    got = _ess_got(j)
    expect_close(got, ess(log_w), "effective_sample_size(log_w)", reveal=True, hints={
        "the ESS is (sum w)^2 / sum w^2, not sum w^2 / (sum w)^2 (it lies between 1 and K)":
            1 / ess(log_w),
        "the ESS is (sum w)^2 / sum w^2, not 1 / sum w_normalised (that is not the ESS)":
            1 / torch.softmax(log_w, 0).sum(0),
    })


def judge_ess_reference(j: Judgement) -> None:
    n = j.inputs["log_w"].shape[1]
    got = expect_tensor(j.got, "effective_sample_size(log_w)", shape=(n,),
                        dtype=j.inputs["log_w"].dtype)
    expect_close(got, j.ref, "effective_sample_size(log_w) in float32", reveal=False)


# --------------------------------------------------------------------- iwae.dreg
DREG_K, DREG_CALLS, DREG_ROWS = 10, 20, 100
DREG_REF_ROWS = 10_000


def dreg_inputs() -> dict[str, Any]:
    inputs = ppca_inputs(F64, DREG_ROWS, exact=False, same_x=True)
    mean, logvar = q_params(inputs)
    inputs["theta"] = torch.cat([mean[0], logvar]).expand(DREG_ROWS, 2 * M).clone()
    return inputs


def gradient_runs(surrogate: Any, inputs: dict[str, Any], ctx: ProbeContext, calls: int
                  ) -> dict[str, Any]:
    """Per-row encoder gradients [calls * rows, 2M] and decoder gradients [calls, D*M + D]."""
    enc, dec = [], []
    for _ in range(calls):
        model, encoder = row_model(inputs, ctx, learn=True)
        value = surrogate(model, inputs["x"], DREG_K)
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            return {"error": "shape", "shape": list(getattr(value, "shape", []))}
        if not value.requires_grad:
            return {"error": "grad"}
        params = (encoder.theta, model.decoder.W, model.decoder.b)
        grads = torch.autograd.grad(value.reshape(()), params, allow_unused=True)
        if any(g is None for g in grads):
            return {"error": "unused", "which": [g is None for g in grads]}
        enc.append(grads[0].detach() * inputs["x"].shape[0])
        dec.append(torch.cat([grads[1].reshape(-1), grads[2].reshape(-1)]).detach())
    return {"enc": torch.cat(enc), "dec": torch.stack(dec)}


def probe_dreg(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    return gradient_runs(ns["dreg_surrogate"], inputs, ctx, DREG_CALLS)


_TRUSTED_RUNS: dict[tuple[str, bytes], dict[str, torch.Tensor]] = {}


def _trusted_runs(inputs: dict[str, Any], estimator: str) -> dict[str, torch.Tensor]:
    """The trusted estimator's per-row encoder gradients (``DREG_REF_ROWS`` iid rows) and its
    decoder gradient averaged over those rows; cached per inputs, as three judges need it."""
    from autograder.trusted.iwae import gradient_draws

    key = (estimator, inputs["theta"].numpy().tobytes() + inputs["W"].numpy().tobytes())
    if key not in _TRUSTED_RUNS:
        state = torch.get_rng_state()
        torch.manual_seed(99)
        big = dict(inputs, x=inputs["x"][:1].expand(DREG_REF_ROWS, *IMG),
                   theta=inputs["theta"][:1].expand(DREG_REF_ROWS, 2 * M).clone())
        model, encoder = row_model(big, ProbeContext(torch.device("cpu")), learn=True)
        params = (encoder.theta, model.decoder.W, model.decoder.b)
        g = gradient_draws(model, big["x"], DREG_K, estimator, params)
        torch.set_rng_state(state)
        _TRUSTED_RUNS[key] = {"enc": g[0].detach() * DREG_REF_ROWS,
                              "dec": torch.cat([g[1].reshape(-1), g[2].reshape(-1)]).detach()}
    return _TRUSTED_RUNS[key]


def _dreg_got(j: Judgement, calls: int = DREG_CALLS) -> dict[str, torch.Tensor]:
    got = j.got if isinstance(j.got, dict) else {}
    error = got.get("error")
    if error == "shape":
        raise CheckFailed(f"dreg_surrogate returned shape {got.get('shape')}: it must return "
                          "one scalar (the batch mean of the per-example surrogate).")
    if error == "grad":
        raise CheckFailed("dreg_surrogate's value carries no gradient: keep z = q.rsample() "
                          "and the decoder in the graph.")
    if error == "unused":
        which = [name for name, none in zip(("encoder", "decoder W", "decoder b"),
                                            got.get("which", []), strict=False) if none]
        raise CheckFailed(f"dreg_surrogate passes no gradient to the {', '.join(which)}: the "
                          "encoder's gradient flows through z = q.rsample(), the decoder's "
                          "through log p(x|z).")
    enc = expect_tensor(got.get("enc"), "encoder gradients", shape=(calls * DREG_ROWS, 2 * M))
    dec = expect_tensor(got.get("dec"), "decoder gradients", shape=(calls, D * M + D))
    expect_finite(enc, "the encoder's gradient")
    expect_finite(dec, "the decoder's gradient")
    return {"enc": enc.to(F64), "dec": dec.to(F64)}


def _bonferroni_z(diff: torch.Tensor, se: torch.Tensor) -> tuple[float, float]:
    """(max per-coordinate |z|, threshold with a Bonferroni correction over coordinates)."""
    z = diff.abs() / (se + 1e-12)
    return float(z.max()), normal_threshold(FALSE_FAILURE_RATE / diff.numel())


def judge_dreg_decoder(j: Judgement) -> None:
    got = _dreg_got(j)
    ref = _trusted_runs(j.inputs, "iwae")["dec"]
    dec = got["dec"]
    # Under a correct answer the student's per-call decoder gradient IS the IWAE one, so its
    # per-example variance (estimated from the calls) also gives the reference mean's error.
    per_example_var = dec.var(0) * DREG_ROWS
    se = (per_example_var / (DREG_CALLS * DREG_ROWS) + per_example_var / DREG_REF_ROWS).sqrt()
    z, limit = _bonferroni_z(dec.mean(0) - ref, se)
    if z > limit:
        raise CheckFailed(f"the decoder's gradient from dreg_surrogate does not have the IWAE "
                          f"gradient's expectation (max z = {z:.1f}, threshold {limit:.1f}, "
                          f"false-failure rate {FALSE_FAILURE_RATE:g}): the decoder must get "
                          "sum_k w~_k d log w_k / d theta with the normalised weights w~ = "
                          "softmax(log_w, 0) (not squared; the squared weights are for the "
                          "encoder's path only), averaged over the batch.")


def judge_dreg_encoder_mean(j: Judgement) -> None:
    got = _dreg_got(j)["enc"]
    ref = _trusted_runs(j.inputs, "iwae")["enc"]
    se = (got.var(0) / got.shape[0] + ref.var(0) / ref.shape[0]).sqrt()
    z, limit = _bonferroni_z(got.mean(0) - ref.mean(0), se)
    if z > limit:
        raise CheckFailed(f"the encoder's gradient from dreg_surrogate is biased: its average "
                          f"differs from the IWAE gradient's expectation (max z = {z:.1f}, "
                          f"threshold {limit:.1f}, false-failure rate {FALSE_FAILURE_RATE:g}). "
                          "DReG weights the pathwise term by the SQUARED normalised weights "
                          "w~_k^2 (detached), with q's parameters under a stop-gradient in "
                          "log q(z|x); using w~_k instead (or keeping the score term) misses "
                          "the squared normalised weights. Also check the batch mean.")


VAR_RATIO = 0.6


def judge_dreg_variance(j: Judgement) -> None:
    got = _dreg_got(j)
    ref = _trusted_runs(j.inputs, "iwae")
    d_got = ((got["enc"] - got["enc"].mean(0)) ** 2).sum(1)
    d_ref = ((ref["enc"] - ref["enc"].mean(0)) ** 2).sum(1)
    diff = float(d_got.mean() - VAR_RATIO * d_ref.mean())
    se = math.sqrt(float(d_got.var()) / d_got.numel()
                   + VAR_RATIO**2 * float(d_ref.var()) / d_ref.numel())
    limit = normal_threshold(2 * FALSE_FAILURE_RATE)  # one-sided at FALSE_FAILURE_RATE
    if diff / se > limit:
        raise CheckFailed(f"the encoder's gradient from dreg_surrogate has total variance "
                          f"{float(d_got.mean()):.4g}, not below {VAR_RATIO:g} x that of the "
                          f"plain IWAE gradient ({float(d_ref.mean()):.4g}); one-sided z = "
                          f"{diff / se:.1f}, threshold {limit:.1f}, false-failure rate "
                          f"{FALSE_FAILURE_RATE:g}. The encoder gets the plain IWAE gradient: "
                          "put q's parameters under a stop-gradient in log q(z|x) (detach its "
                          "mean and std) and weight the pathwise term by w~_k^2.")


# ----------------------------------------------------------------- iwae.training
TRAIN_STEPS = 300
TRAIN_BATCH = 128
TRAIN_SUBSET = 10_000
TEST_SUBSET = 1_000
TRAIN_M = 8
TRAIN_K = 5
BOUND_THRESHOLD = -160.0
TRAINING_RUNS = 20
"""Correct trainings measured against the threshold (docs/grading/training-checks.md)."""
MNIST_IMG = (28, 28)
MNIST_D = 784


class MLPEncoder(nn.Module):
    """q(z|x) = N(mean, exp(logvar)) with [mean, logvar] = net(x): the grader's own encoder."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> td.Distribution:
        mean, logvar = self.net(x).chunk(2, dim=-1)
        return td.Independent(td.Normal(mean, torch.exp(0.5 * logvar)), 1)


class MLPDecoder(nn.Module):
    """p(x|z) = Bernoulli(logits = net(z)) over 28x28 pixels: the grader's own decoder."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, z: torch.Tensor) -> td.Distribution:
        return td.Independent(td.Bernoulli(logits=self.net(z)), 2)


def training_nets() -> tuple[nn.Module, nn.Module]:
    """The fixed encoder and decoder networks of the training check (seeded initialisation)."""
    torch.manual_seed(0)
    enc = nn.Sequential(nn.Flatten(), *_mlp((MNIST_D, 256, 2 * TRAIN_M)))
    dec = nn.Sequential(*_mlp((TRAIN_M, 256, MNIST_D)), nn.Unflatten(-1, MNIST_IMG))
    return enc, dec


def training_inputs() -> dict[str, Any]:
    from autograder.topics.t05_vae_binary_mnist import mnist_root_inputs as data_inputs

    return data_inputs()


def probe_training(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """Train the grader's fixed networks with the student's IWAE; return the trained weights."""
    from vaelib.data import load_split
    from vaelib.training import train

    dev = ctx.device
    data = load_split("train", "dynamic", root=inputs["root"], device=dev, limit=TRAIN_SUBSET)
    enc_net, dec_net = training_nets()
    model = ns["IWAE"](FixedPrior(TRAIN_M), MLPDecoder(dec_net), MLPEncoder(enc_net),
                       TRAIN_K).to(dev)
    try:
        log = train(model, data, epochs=math.ceil(TRAIN_STEPS * TRAIN_BATCH / len(data)),
                    batch_size=TRAIN_BATCH, lr=1e-3, max_steps=TRAIN_STEPS, progress=False,
                    generator=torch.Generator().manual_seed(0))
    except ValueError as exc:
        if not nan_parameters(exc):
            raise
        return {"diverged_at": -1, "error": str(exc).splitlines()[0][:200]}
    bad = [i for i, v in enumerate(log.losses) if not math.isfinite(v)]
    if bad:
        return {"diverged_at": bad[0]}
    return {"encoder": {k: v.detach().cpu() for k, v in enc_net.state_dict().items()},
            "decoder": {k: v.detach().cpu() for k, v in dec_net.state_dict().items()},
            "losses": log.losses[::50]}


def trained_model(weights: dict[str, Any]) -> Model:
    """The grader's own model rebuilt from the returned weights (refuses anything else)."""
    enc, dec = training_nets()
    for net, key in ((enc, "encoder"), (dec, "decoder")):
        state = weights.get(key)
        if not isinstance(state, dict):
            raise CheckFailed("the training run returned no trained weights.")
        try:
            net.load_state_dict({k: torch.as_tensor(v, dtype=torch.float32)
                                 for k, v in state.items()})
        except (RuntimeError, TypeError, ValueError) as exc:
            raise CheckFailed(f"the returned weights do not fit the fixed networks: {exc}"
                              ) from None
    return Model(FixedPrior(TRAIN_M), MLPDecoder(dec), MLPEncoder(enc))


def test_images(n: int = TEST_SUBSET) -> torch.Tensor:
    """The first n images of the fixed test binarization (read in the grading process only)."""
    from vaelib.data import load_split

    return load_split("test", "fixed", root=training_inputs()["root"], limit=n).binary()


def judge_training(j: Judgement) -> None:
    from autograder.trusted.iwae import evaluate_bound

    got = j.got if isinstance(j.got, dict) else {}
    if "diverged_at" in got:
        where = (f"at step {got['diverged_at']}" if got["diverged_at"] >= 0
                 else f"({got.get('error', 'NaN parameters')})")
        raise CheckFailed(f"training diverged: the loss or the networks became NaN/inf {where}. "
                          "Usual causes: samples grouped across examples ([B, K] vs [K, B] "
                          "mix-up: z drawn for one image scored against another), or a bound "
                          "not computed stably with logsumexp.")
    model = trained_model(got)
    torch.manual_seed(0)
    value = evaluate_bound(model, test_images(), TRAIN_K)
    if not math.isfinite(value) or value > 0:
        raise CheckFailed(f"the trained model's test bound is {value}, impossible for binary "
                          "images (it must be finite and <= 0).")
    if value < BOUND_THRESHOLD:
        raise CheckFailed(
            f"after {TRAIN_STEPS} Adam steps (batch {TRAIN_BATCH}, M = {TRAIN_M}, K = {TRAIN_K}, "
            f"fixed networks) the K = {TRAIN_K} test bound is {value:.1f} nats; a correct IWAE "
            f"reaches above {BOUND_THRESHOLD:.0f}. Usual causes: samples grouped across "
            "examples ([B, K] vs [K, B] mix-up, so the decoder learns from the wrong image), "
            ".sample() instead of .rsample(), or +bound as the loss instead of -bound.")


# ----------------------------------------------------------------- public checks
# Students read these checks: they use closed forms of tiny cases, never a reference
# implementation. With W = 0 the decoder ignores z, p(x|z) = N(x; b, s^2 I), so log p(x) is
# that Gaussian's log-density, and with q(z|x) = N(mu, I) every log weight is
# log p(x) - |mu|^2 / 2 - mu . eps with eps ~ N(0, I): q = p(z) (mu = 0) gives log p(x) exactly.


def flat_inputs(n: int = 4, q_mean: tuple[float, float] = (0.0, 0.0),
                q_logvar: tuple[float, float] = (0.0, 0.0)) -> dict[str, Any]:
    """A decoder that ignores z (W = 0) and q(z|x) = N(q_mean, diag exp(q_logvar)) for every x;
    ``theta`` holds the same q as one row per example (for the row encoder)."""
    b = torch.randn(D, dtype=F64)
    x = b + (1.0 + torch.arange(n, dtype=F64)[:, None]) * torch.randn(n, D, dtype=F64)
    mean, logvar = torch.tensor(q_mean, dtype=F64), torch.tensor(q_logvar, dtype=F64)
    return {"W": torch.zeros(D, M, dtype=F64), "b": b, "x": x.reshape(n, *IMG),
            "A": torch.zeros(M, D, dtype=F64), "c": mean, "logvar": logvar,
            "theta": torch.cat([mean, logvar]).expand(n, 2 * M).clone()}


def _flat_log_px(inputs: dict[str, Any]) -> torch.Tensor:
    """log p(x_b) when the decoder ignores z: sum over pixels of log N(x; b, s^2), [B]."""
    x = inputs["x"].reshape(inputs["x"].shape[0], D).to(F64)
    return td.Normal(inputs["b"].to(F64), NOISE).log_prob(x).sum(-1)


def judge_log_weights_flat(j: Judgement) -> None:
    x = j.inputs["x"]
    n = x.shape[0]
    got = expect_kb(j.got, LW_K, n, f"log_importance_weights(model, x, {LW_K})", x.dtype,
                    j.device)
    log_px = _flat_log_px(j.inputs).expand(LW_K, n)
    expect_close(got, log_px, "log w with a decoder that ignores z and q(z|x) = p(z) (then "
                 "log w = log p(x|z) + log p(z) - log q(z|x) = log p(x|z) exactly)", reveal=True,
                 hints={"log p(x|z) is missing from log w": torch.zeros_like(log_px)})


def judge_log_weights_constant(j: Judgement) -> None:
    x = j.inputs["x"]
    n = x.shape[0]
    got = expect_kb(j.got, LW_K, n, f"log_importance_weights(model, x, {LW_K})", x.dtype,
                    j.device).to(F64)
    spread = got.max(0).values - got.min(0).values
    if bool((spread > 1e-6 * (1 + got.abs().max(0).values)).any()):
        raise CheckFailed("q is the exact posterior of a PPCA model, so the K log weights of an "
                          "example must all be the same number, log p(x_b), whatever z is; "
                          f"they differ by up to {float(spread.max()):.3g}. Likely cause: "
                          f"{MIXED}; or a term of log w = log p(x|z) + log p(z) - log q(z|x) "
                          "is missing or has the wrong sign.")
    if float(got[0].max() - got[0].min()) < 1e-3:
        raise CheckFailed("the log weights are the same for every example, but the examples "
                          "have very different log p(x): log w must be evaluated at each x_b.")


FLAT_GRAD_Q = ((0.5, -1.0), (0.0, math.log(2.0)))


def judge_log_weights_grad_flat(j: Judgement) -> None:
    grad = _encoder_grad(j)
    # The decoder ignores z, so E[log w] = log p(x) - KL(q || N(0, I)); for q = N((0.5, -1),
    # diag(1, 2)): d/dmean = -mean = (-0.5, 1), d/dlogvar = (1 - var) / 2 = (0, -0.5), per sample.
    expected = GRAD_K * torch.tensor([-0.5, 1.0, 0.0, -0.5], dtype=F64)
    mean, se = grad.mean(0), grad.std(0) / math.sqrt(GRAD_ROWS)
    limit = normal_threshold(FALSE_FAILURE_RATE / (2 * M))
    z = (mean - expected).abs() / (se + 1e-9)
    if bool((z <= limit).all()):
        return
    cause = ("z must be drawn with q.rsample(), not q.sample(), which detaches z"
             if bool(((mean.abs() / (se + 1e-9)) <= limit).all()) else
             "log w = log p(x|z) + log p(z) - log q(z|x), all three at the same "
             "reparameterised z")
    raise CheckFailed(f"with a decoder that ignores z, the expected gradient of log_w.sum() "
                      f"w.r.t. q's [mean, logvar] is K x d(-KL(q || p(z))) = "
                      f"{[round(v, 3) for v in expected.tolist()]}, but the average over "
                      f"{GRAD_ROWS} examples is {[round(v, 3) for v in mean.tolist()]} (max z = "
                      f"{float(z.max()):.1f}, threshold {limit:.1f}, false-failure rate "
                      f"{FALSE_FAILURE_RATE:g}). Likely cause: {cause}.")


def bound_known_inputs() -> dict[str, Any]:
    """K = 4 weights per example whose means are 3, 4 and 2, shifted by -800, +800 and 0."""
    weights = torch.tensor([[1.0, 4.0, 1.0], [2.0, 4.0, 1.0], [3.0, 4.0, 1.0],
                            [6.0, 4.0, 5.0]], dtype=F64)
    return {"log_w": weights.log() + torch.tensor([-800.0, 800.0, 0.0], dtype=F64)}


def judge_bound_known(j: Judgement) -> None:
    # log of the mean weight of each example: log 3 - 800, log 4 + 800, log 2.
    expected = torch.tensor([math.log(3) - 800, math.log(4) + 800, math.log(2)], dtype=F64)
    _judge_bound_values(j, expected, "iwae_bound(log_w) for weights whose means are known")


def judge_model_flat(j: Judgement) -> None:
    _judge_model_values(j, _flat_log_px(j.inputs), "with a decoder that ignores z and q(z|x) = "
                        "p(z)")


FLAT_MONO_ROWS = 1500


def judge_model_grows_with_k(j: Judgement) -> None:
    """K = 1: E = log p(x) - KL = log p(x) - 1 exactly; K = 64: between log p(x) - 0.5 and
    log p(x) (its expectation is about log p(x) - 0.04, over 60 standard errors inside)."""
    got = j.got if isinstance(j.got, list) else []
    if len(got) != len(MONO_KS):
        raise CheckFailed("IWAE.elbo(x) did not return a bound for every K tried.")
    log_px = _flat_log_px(j.inputs)
    limit = normal_threshold(FALSE_FAILURE_RATE / 2)
    draws = {}
    for k, values in zip(MONO_KS, got, strict=True):
        values = expect_tensor(values, f"IWAE(..., k={k}).elbo(x)", shape=(FLAT_MONO_ROWS,))
        expect_finite(values, f"IWAE(..., k={k}).elbo(x)")
        draws[k] = values.to(F64) - log_px
    # q = N((1, -1), I) and p(z) = N(0, I): log w - log p(x) = -1 - (1, -1) . eps, variance 2.
    gap1 = float(draws[1].mean())
    se1 = math.sqrt(2.0 / FLAT_MONO_ROWS)
    if abs(gap1 + 1.0) > limit * se1:
        raise CheckFailed(f"with k = 1 the IWAE bound is the ELBO, log p(x) - KL(q || p(z)) = "
                          f"log p(x) - 1 here, but the average of elbo(x) - log p(x) over "
                          f"{FLAT_MONO_ROWS} examples is {gap1:.3f} ± {se1:.3f} (threshold "
                          f"{limit:.1f} standard errors, false-failure rate "
                          f"{FALSE_FAILURE_RATE:g}).")
    top = MONO_KS[-1]
    gap = float(draws[top].mean())
    se = float(draws[top].std()) / math.sqrt(FLAT_MONO_ROWS) + 1e-9
    if gap < -0.5 - limit * se or gap > limit * se:
        hint = (" The bound does not grow with K: average the weights, not the log weights "
                "(the mean of log weights is the ELBO for every K)."
                if abs(gap + 1.0) <= limit * se else "")
        raise CheckFailed(f"with k = {top} the expected bound is about log p(x) - 0.04 (it "
                          f"rises with K from the ELBO, log p(x) - 1, towards log p(x) and "
                          f"never above), but the average of elbo(x) - log p(x) is "
                          f"{gap:.3f} ± {se:.3f}.{hint}")


def judge_loglik_flat(j: Judgement) -> None:
    value = _loglik_value(j)
    log_px = _flat_log_px(j.inputs).to(value.dtype)
    k = LL_K
    expect_close(value, log_px, f"estimate_log_likelihood(model, x, k={k}, chunk={LL_CHUNK}) "
                 "with a decoder that ignores z and q(z|x) = p(z) (every weight is p(x))",
                 reveal=True, rtol=1e-6, atol=1e-6, hints={
                     "the chunks are combined with the wrong count: the estimate is "
                     "logsumexp over all k log weights minus log k (the last chunk may be "
                     "smaller)": log_px + math.log(k) - math.log(math.ceil(k / LL_CHUNK)
                                                                   * LL_CHUNK),
                     "the -log k is missing": log_px + math.log(k),
                 })


CHUNK_K, CHUNK_SIZE, CHUNK_ROWS = 400, 20, 250


def probe_loglik_chunks(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    model = linear_model(inputs, ctx)
    fn = ns["estimate_log_likelihood"]
    return {"whole": detached(fn(model, inputs["x"], CHUNK_K, CHUNK_K)),
            "chunked": detached(fn(model, inputs["x"], CHUNK_K, CHUNK_SIZE))}


def judge_loglik_chunks(j: Judgement) -> None:
    got = j.got if isinstance(j.got, dict) else {}
    runs = {}
    for key, chunk in (("whole", CHUNK_K), ("chunked", CHUNK_SIZE)):
        what = f"estimate_log_likelihood(model, x, {CHUNK_K}, {chunk})"
        runs[key] = expect_tensor(got.get(key), what, shape=(CHUNK_ROWS,))
        expect_finite(runs[key], what)
    # Both runs estimate the same log p(x_b): their difference has mean 0 for every example.
    diff = (runs["chunked"] - runs["whole"]).to(F64)
    mean, se = float(diff.mean()), float(diff.std()) / math.sqrt(CHUNK_ROWS) + 1e-9
    z = abs(mean) / se
    limit = normal_threshold(FALSE_FAILURE_RATE)
    if z > limit:
        raise CheckFailed(f"the estimate depends on the chunk size: with chunk = {CHUNK_SIZE} it "
                          f"is on average {mean:.3f} ± {se:.3f} away from the estimate with one "
                          f"chunk of {CHUNK_K} (z = {z:.1f}, threshold {limit:.1f}, "
                          f"false-failure rate {FALSE_FAILURE_RATE:g}). Likely cause: the "
                          "per-chunk estimates are averaged; that is a mean of looser bounds. "
                          "Keep a running logsumexp of all log weights and subtract log k once "
                          "at the end.")


def ess_known_inputs() -> dict[str, Any]:
    """K = 4 weights per example: equal, one non-zero, two or three equal non-zero, and
    (1, 2, 3, 6)."""
    weights = torch.tensor([[1.0, 1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 1.0, 2.0, 1.0],
                            [1.0, 0.0, 0.0, 3.0, 1.0], [1.0, 0.0, 0.0, 6.0, 0.0]], dtype=F64)
    log_w = weights.log().clamp_min(-1000.0)
    return {"log_w": log_w + torch.tensor([800.0, -800.0, 0.0, 3.0, -5.0], dtype=F64)}


def judge_ess_known(j: Judgement) -> None:
    got = _ess_got(j)
    # (sum w)^2 / sum w^2: 16/4, 1/1, 4/2, 144/50 and 9/3.
    expected = torch.tensor([4.0, 1.0, 2.0, 2.88, 3.0], dtype=F64)
    expect_close(got, expected, "effective_sample_size(log_w) for weights (1, 1, 1, 1), "
                 "(1, 0, 0, 0), (1, 1, 0, 0), (1, 2, 3, 6) and (1, 1, 1, 0)", reveal=True,
                 hints={
                     "the ESS is (sum w)^2 / sum w^2, not sum w^2 / (sum w)^2 (it lies between "
                     "1 and K)": 1 / expected,
                     "the ESS is (sum w)^2 / sum w^2, not 1 / sum w_normalised (that is not "
                     "the ESS)": torch.ones_like(expected),
                 })


def dreg_flat_inputs() -> dict[str, Any]:
    """A decoder that ignores z; q = p(z) for the first run, q = N((1, -1), I) for the second."""
    inputs = flat_inputs(DREG_ROWS)
    inputs["theta_shift"] = torch.tensor([1.0, -1.0, 0.0, 0.0], dtype=F64).expand(
        DREG_ROWS, 2 * M).clone()
    return inputs


def probe_dreg_flat(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    return {"prior": gradient_runs(ns["dreg_surrogate"], inputs, ctx, 1),
            "shift": gradient_runs(ns["dreg_surrogate"], dict(inputs, theta=inputs[
                "theta_shift"]), ctx, 1)}


def _dreg_flat_run(j: Judgement, key: str) -> dict[str, torch.Tensor]:
    got = j.got.get(key) if isinstance(j.got, dict) else None
    return _dreg_got(Judgement(j.inputs, got, None, j.hidden, j.device), calls=1)


def judge_dreg_flat(j: Judgement) -> None:
    """q = p(z), decoder ignoring z: every log w is log p(x) whatever z, so with q's parameters
    under a stop-gradient the encoder's gradient is exactly 0 (the plain IWAE gradient keeps
    the score term, which is not); for q = N(mu, I) each example's encoder gradient w.r.t. the
    mean is -mu sum_k w~_k^2, between -mu / K and -mu. In both, the decoder's bias gets
    sum_k w~_k (x - b) / s^2 = (x - b) / s^2 per example, averaged over the batch."""
    x = j.inputs["x"].reshape(DREG_ROWS, D).to(F64)
    bias_grad = ((x - j.inputs["b"].to(F64)) / NOISE**2).mean(0)
    for key in ("prior", "shift"):
        run = _dreg_flat_run(j, key)
        expect_close(run["dec"][0, -D:], bias_grad, "the decoder bias's gradient of "
                     "dreg_surrogate with a decoder that ignores z: sum_k w~_k (x - b) / s^2, "
                     "averaged over the batch", reveal=True, hints={
                         "the decoder got the SQUARED normalised weights; w~_k^2 is for the "
                         "encoder's path only": bias_grad / DREG_K,
                         "the surrogate sums over the batch; take the mean":
                             bias_grad * DREG_ROWS})
    enc = _dreg_flat_run(j, "prior")["enc"]
    if float(enc.abs().max()) > 1e-6:
        raise CheckFailed("with q = p(z) and a decoder that ignores z every log weight is log "
                          "p(x), so the DReG encoder gradient is exactly 0, but it is not (max "
                          f"{float(enc.abs().max()):.3g}): the score term is still there. Put "
                          "q's parameters under a stop-gradient in log q(z|x) (detach its mean "
                          "and std); only the path through z = q.rsample() remains.")
    mu = torch.tensor([1.0, -1.0], dtype=F64)
    g = _dreg_flat_run(j, "shift")["enc"][:, :M]
    factor = -(g @ mu) / float(mu @ mu)
    off_line = float((g + factor[:, None] * mu).abs().max())
    if off_line > 1e-5 or bool((factor < 1 / DREG_K - 1e-6).any()) or bool(
            (factor > 1 + 1e-6).any()):
        raise CheckFailed(f"for q = N(mu, I) and a decoder that ignores z, each example's DReG "
                          f"gradient w.r.t. q's mean must be -mu * sum_k w~_k^2, a factor "
                          f"between 1/K and 1 of -mu; got factors from {float(factor.min()):.3g} "
                          f"to {float(factor.max()):.3g}. Check the normalised weights "
                          "w~ = softmax(log_w, 0) (detached) and the batch mean.")
    if bool((factor > 1 - 1e-6).all()):
        raise CheckFailed("every example's DReG gradient w.r.t. q's mean is exactly -mu, i.e. "
                          "the path term is weighted by w~_k (which sum to 1), not by the "
                          "SQUARED normalised weights w~_k^2.")


SMOKE_COSINE_MIN = 0.5


def probe_training_smoke(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """One gradient of IWAE(...)(x) for a tiny PPCA batch: whether it reached encoder and
    decoder, and the gradient on the decoder's bias."""
    model, encoder = row_model(inputs, ctx, learn=True)
    iwae = ns["IWAE"](model.prior, model.decoder, encoder, 5).to(ctx.device)
    loss = iwae(inputs["x"])
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1 or not loss.requires_grad:
        return {"error": f"forward(x) returned {type(loss).__name__} "
                         f"{list(getattr(loss, 'shape', []))}"}
    if not bool(torch.isfinite(loss)):
        return {"error": f"the loss is {float(loss)} at the start"}
    loss.backward()
    reached = {name: p.grad is not None and bool((p.grad != 0).any())
               for name, p in (("encoder", encoder.theta), ("decoder W", model.decoder.W),
                               ("decoder b", model.decoder.b))}
    return {"reached": reached, "b_grad": detached(model.decoder.b.grad).clone()}


def smoke_inputs() -> dict[str, Any]:
    """A tiny PPCA batch; the decoder starts with a bias 2 away from the data's mean."""
    inputs = ppca_inputs(torch.float32, 16, exact=False)
    mean, logvar = q_params(inputs)
    inputs["theta"] = torch.cat([mean, logvar.expand(16, M)], -1).float()
    inputs["W"] = 0.3 * inputs["W"]
    inputs["b"] = inputs["x"].reshape(16, D).mean(0) + 2.0
    return inputs


def judge_training_smoke(j: Judgement) -> None:
    """Descending the loss moves the decoder's bias (the mean image when z = 0) towards the
    data: the cosine between minus its gradient and (data mean - bias) is at least
    SMOKE_COSINE_MIN. Measured on correct answers: 0.971 to 1.000 over 200 seeds
    (bench/false_failure_rates.py; docs/grading/training-checks.md); a negated bound gives
    about -1."""
    got = j.got if isinstance(j.got, dict) else {}
    if "error" in got:
        raise CheckFailed(f"IWAE's forward(x) must return the scalar loss -elbo(x).mean() with "
                          f"its graph, finite on a tiny batch; {got['error']}.")
    missing = [name for name, ok in (got.get("reached") or {}).items() if not ok]
    if missing or not got.get("reached"):
        raise CheckFailed(f"the loss passes no gradient to the {', '.join(missing) or 'model'}: "
                          "z = q.rsample() and the decoder must stay in the graph.")
    toward = (j.inputs["x"].reshape(j.inputs["x"].shape[0], D).mean(0) - j.inputs["b"]).to(F64)
    grad = expect_tensor(got.get("b_grad"), "the gradient on the decoder's bias",
                         shape=(D,)).to(F64)
    cosine = float(-(grad @ toward) / (grad.norm() * toward.norm()).clamp_min(1e-300))
    if cosine < SMOKE_COSINE_MIN:
        raise CheckFailed(f"descending forward(x) does not move the decoder's bias towards the "
                          f"data (cosine between minus its gradient and data mean - bias "
                          f"{cosine:.2f}, needed >= {SMOKE_COSINE_MIN}; correct answers give "
                          "0.97 or more): forward(x) must be -elbo(x).mean(), the NEGATIVE "
                          "bound, so that minimising it maximises the bound.")


# ------------------------------------------------------------------------- tasks
RATE = f"false-failure rate {FALSE_FAILURE_RATE:g}"
TASKS = (
    Task("iwae.log_weights", TOPIC, ("log_importance_weights",), 3.0, (
        Check("[K, B] log weights equal log p(x) under PPCA's exact posterior",
              probe_log_weights, judge_log_weights_exact, ppca_inputs, hidden=True),
        Check(f"gradients reach q through a reparameterised z ({RATE})",
              probe_log_weights_grad, judge_log_weights_grad, grad_inputs, hidden=True),
        Check("[K, B] log weights equal log p(x) for a decoder that ignores z and q = p(z)",
              probe_log_weights, judge_log_weights_flat, flat_inputs),
        Check("under PPCA's exact posterior the K log weights of an example are equal",
              probe_log_weights, judge_log_weights_constant, ppca_inputs),
        Check(f"E[d log w / d q] = -d KL(q || p(z)) when the decoder ignores z: z is "
              f"reparameterised ({RATE})", probe_log_weights_grad, judge_log_weights_grad_flat,
              lambda: flat_inputs(GRAD_ROWS, *FLAT_GRAD_Q)),
        Check(f"E[log w] is the ELBO in float32 ({RATE})", probe_log_weights,
              judge_log_weights_mean, lw_mean_inputs, hidden=True, seed=3),
    ), timeout_s=90.0, description="log p(x|z_k) + log p(z_k) - log q(z_k|x), [K, B]"),
    Task("iwae.bound", TOPIC, ("iwae_bound",), 2.0, (
        Check("stable logsumexp - log K, for log weights near -800 and +800", probe_bound,
              judge_bound, bound_inputs, hidden=True),
        Check("log of the mean weight, for weights with known means near e^-800 and e^800",
              probe_bound, judge_bound_known, bound_known_inputs),
        Check("matches the reference in float32", probe_bound, judge_bound_reference,
              lambda: bound_inputs(torch.float32), hidden=True, seed=5),
    ), description="log (1/K) sum_k w_k from [K, B] log weights"),
    Task("iwae.model", TOPIC, ("IWAE",), 3.0, (
        Check("elbo(x) is log p(x) under the exact posterior; forward and sample unchanged",
              probe_model_exact, judge_model_exact, ppca_inputs, hidden=True),
        Check(f"k = 1 is the ELBO in expectation ({RATE})", probe_model_exact, judge_model_k1,
              k1_inputs, hidden=True),
        Check("elbo(x) is log p(x) for a decoder that ignores z and q = p(z); forward and "
              "sample unchanged", probe_model_exact, judge_model_flat, flat_inputs),
        Check(f"E[bound] is the ELBO for k = 1 and rises towards log p(x) for k = "
              f"{MONO_KS[-1]} ({RATE})", probe_model_mono, judge_model_grows_with_k,
              lambda: flat_inputs(FLAT_MONO_ROWS, (1.0, -1.0))),
        Check(f"E[bound] increases with K = {', '.join(map(str, MONO_KS))} ({RATE})",
              probe_model_mono, judge_model_mono, mono_inputs, hidden=True, seed=9),
    ), timeout_s=90.0, description="a VAE whose elbo is the K-sample bound"),
    Task("iwae.loglik", TOPIC, ("estimate_log_likelihood",), 2.0, (
        Check(f"k = {LL_K} in chunks of {LL_CHUNK}: exact under the exact posterior, memory "
              "bounded by the chunk", probe_loglik, judge_loglik_exact,
              lambda: ppca_inputs(F64, 4), hidden=True),
        Check(f"chunks combined exactly, not averaged ({RATE})", probe_loglik,
              judge_loglik_combined, bias_inputs, hidden=True),
        Check(f"k = {LL_K} in chunks of {LL_CHUNK}: exact for a decoder that ignores z and "
              "q = p(z), memory bounded by the chunk", probe_loglik, judge_loglik_flat,
              flat_inputs),
        Check(f"the estimate does not depend on the chunk size ({RATE})", probe_loglik_chunks,
              judge_loglik_chunks, lambda: flat_inputs(CHUNK_ROWS, (1.5, -1.5))),
    ), timeout_s=90.0, description="importance-sampled log p(x), chunked over k"),
    Task("iwae.ess", TOPIC, ("effective_sample_size",), 1.0, (
        Check("(sum w)^2 / sum w^2, stable, between 1 and K", probe_ess, judge_ess, ess_inputs,
              hidden=True),
        Check("(sum w)^2 / sum w^2 for weights with known ESS, near e^-800 and e^800",
              probe_ess, judge_ess_known, ess_known_inputs),
        Check("matches the reference in float32", probe_ess, judge_ess_reference,
              lambda: ess_inputs(torch.float32), hidden=True, seed=13),
    ), description="effective sample size of [K, B] log weights"),
    Task("iwae.dreg", TOPIC, ("dreg_surrogate",), 3.0, (
        Check(f"decoder gradient has the IWAE gradient's expectation ({RATE})", probe_dreg,
              judge_dreg_decoder, dreg_inputs, hidden=True),
        Check(f"encoder gradient is unbiased ({RATE})", probe_dreg, judge_dreg_encoder_mean,
              dreg_inputs, hidden=True),
        Check(f"encoder gradient variance below {VAR_RATIO:g} x IWAE's ({RATE})", probe_dreg,
              judge_dreg_variance, dreg_inputs, hidden=True),
        Check("no score term, squared weights on the encoder's path, plain weights for the "
              "decoder (a decoder that ignores z)", probe_dreg_flat, judge_dreg_flat,
              dreg_flat_inputs),
    ), timeout_s=120.0, description="doubly reparameterised gradient surrogate"),
    Task("iwae.training", TOPIC, ("IWAE",), 3.0, (
        Check(f"K = {TRAIN_K} trains on MNIST: test bound > {BOUND_THRESHOLD:g} after "
              f"{TRAIN_STEPS} steps (measured false-failure rate 0/{TRAINING_RUNS}, margin over "
              "19 nats)", probe_training, judge_training, training_inputs,
              hidden=True),
        Check("gradients reach encoder and decoder; descending the loss moves the decoder "
              "towards a tiny batch (measured false-failure rate 0/100)", probe_training_smoke,
              judge_training_smoke, smoke_inputs),
    ), timeout_s=420.0, description="the IWAE trains the grader's fixed networks"),
)
