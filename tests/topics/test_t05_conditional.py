"""Topic 05's conditional VAE (``vae.conditional``): the reference and a differently written
CVAE get full marks (hidden checks included); classic bugs fail with the concept named; the
untouched exercise scores 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import assert_caught, assert_full
from tests.topics.scaffold import TopicTests

topic = TopicTests("05_vae_binary_mnist")
CELL = "CVAE_solution"
TASK = "vae.conditional"

VARIANT = '''
import torch.nn.functional as F


class ConditionalEncoder(nn.Module):
    def __init__(self, encoder_net):
        super().__init__()
        self.net = encoder_net

    def forward(self, x, y):
        h = self.net(torch.hstack([x.reshape(x.shape[0], -1), y]))
        m = h.shape[-1] // 2
        return td.Independent(td.Normal(h[:, :m], h[:, m:].mul(0.5).exp()), 1)


class ConditionalDecoder(nn.Module):
    def __init__(self, decoder_net):
        super().__init__()
        self.net = decoder_net

    def forward(self, z, y):
        return td.Independent(td.Bernoulli(logits=self.net(torch.hstack([z, y]))), 2)


class CVAE(nn.Module):
    def __init__(self, prior, decoder, encoder):
        super().__init__()
        self.prior, self.decoder, self.encoder = prior, decoder, encoder

    def elbo(self, x, y):
        q = self.encoder(x, y)
        z = q.rsample()
        # Monte Carlo KL at the same z
        return self.decoder(z, y).log_prob(x) - (q.log_prob(z) - self.prior().log_prob(z))

    def forward(self, x, y):
        return -torch.mean(self.elbo(x, y))

    def sample(self, digit, n):
        z = self.prior().sample((n,))
        labels = F.one_hot(torch.full((n,), digit, dtype=torch.long, device=z.device), 10)
        return self.decoder(z, labels.to(z)).sample()
'''


def test_reference_gets_full_marks(tmp_path: Path) -> None:
    assert_full(topic.run(tmp_path, CELL, topic.edit(CELL), TASK))


def test_differently_written_cvae_gets_full_marks(tmp_path: Path) -> None:
    assert_full(topic.run(tmp_path, CELL, VARIANT, TASK))


BUGS = {
    "decoder ignores the label": (
        ("self.decoder_net(torch.cat([z, y], dim=1))", "self.decoder_net(z)"),
        "decoder", "label y must be an input"),
    "probabilities as logits": (
        ("td.Bernoulli(logits=self.decoder_net(torch.cat([z, y], dim=1)))",
         "td.Bernoulli(logits=torch.sigmoid(self.decoder_net(torch.cat([z, y], dim=1))))"),
        "decoder", "probabilities as logits"),
    "label first": (
        ("torch.cat([x.flatten(1), y], dim=1)", "torch.cat([y, x.flatten(1)], dim=1)"),
        "encoder", "label LAST"),
    "elbo averaged over the batch": (
        ("td.kl_divergence(q, self.prior())\n", "td.kl_divergence(q, self.prior())).mean()\n"),
        "elbo_hand", "single number"),
    "KL sign": (("log_prob(x) - td.kl_divergence", "log_prob(x) + td.kl_divergence"),
                "elbo_hand", "wrong sign"),
    "z is the mean": (("z = q.rsample()\n        return self.decoder(z, y)",
                       "z = q.mean\n        return self.decoder(z, y)"),
                      "elbo_hand", "rsample"),
    "sample ignores the digit": (("y[:, digit] = 1.0", "y[:, 0] = 1.0"), "sample",
                                 "one-hot label of digit"),
    "sample decodes z = 0": (("z = self.prior().sample(torch.Size([n]))",
                              "z = self.prior().mean.expand(n, -1)"), "sample", "prior"),
}


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_classic_bugs_are_named(bug: str) -> None:
    (old, new), check_id, concept = BUGS[bug]
    if old.endswith(".mean()\n") or new.endswith(".mean()\n"):
        source = topic.edit(CELL, ("return self.decoder(z, y).log_prob(x) - td.kl_divergence",
                                   "return (self.decoder(z, y).log_prob(x) - td.kl_divergence"),
                            (old, new))
    else:
        source = topic.edit(CELL, (old, new))
    status, message = topic.public(TASK, check_id, {CELL: source})
    assert status == "failed", message
    assert concept.lower() in message.lower(), message


def test_a_bug_loses_points_in_grading(tmp_path: Path) -> None:
    source = topic.edit(CELL, ("y[:, digit] = 1.0", "y[:, 0] = 1.0"))
    assert_caught(topic.run(tmp_path, CELL, source, TASK), "digit")


def test_untouched_exercise_gets_nothing() -> None:
    stub = topic.public_outcomes(TASK, exercise=True)
    assert {status for status, _ in stub.values()} == {"missing"}, stub
