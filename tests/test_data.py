"""vaelib.data: offline preparation, loading, binarizations and index batching."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import torch

from vaelib import data

pytestmark = pytest.mark.usefixtures("mnist_root")


def fake_source(tmp_path: Path, md5: str | None = None) -> Path:
    raw = tmp_path / "src" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in data.RAW_FILES:
        with gzip.open(raw / f"{name}.gz", "wb") as handle:
            handle.write(name.encode())
    if md5 is not None:
        (tmp_path / "src" / "MD5SUMS").write_text(f"{md5}  {data.RAW_FILES[0]}\n")
    return tmp_path / "src"


def test_prepare_gunzips_into_raw_folder(tmp_path):
    dest = data.prepare_offline_mnist(fake_source(tmp_path), tmp_path / "root")
    assert dest == tmp_path / "root" / "MNIST" / "raw"
    for name in data.RAW_FILES:
        assert (dest / name).read_bytes() == name.encode()
    assert data.has_mnist(tmp_path / "root")


def test_prepare_checks_md5(tmp_path):
    with pytest.raises(data.DataUnavailable, match="md5"):
        data.prepare_offline_mnist(fake_source(tmp_path, md5="0" * 32), tmp_path / "root")


def test_prepare_missing_source(tmp_path):
    with pytest.raises(data.DataUnavailable):
        data.prepare_offline_mnist(tmp_path / "nothing", tmp_path / "root")


def test_cli(tmp_path, capsys):
    assert data.main(["prepare", "--source", str(fake_source(tmp_path)),
                      "--root", str(tmp_path / "r")]) == 0
    assert "VAE_COURSE_DATA" in capsys.readouterr().out
    assert data.main(["prepare", "--source", str(tmp_path / "no"), "--root", "x"]) == 1


def test_root_from_argument_env_and_default(monkeypatch):
    monkeypatch.setenv(data.DATA_ENV, "/somewhere")
    assert data.data_root() == Path("/somewhere")
    assert data.data_root("here") == Path("here")
    monkeypatch.delenv(data.DATA_ENV)
    assert data.data_root() == Path("./data")


def test_missing_data_message(tmp_path):
    with pytest.raises(data.DataUnavailable, match="prepare"):
        data.load_mnist_uint8("test", tmp_path / "empty", download=False)


def test_splits_shapes_and_types():
    train = data.load_split("train")
    test = data.load_split("test")
    assert (len(train), len(test)) == (60_000, 10_000)
    assert train.images.dtype == torch.uint8 and train.images.shape[1:] == (28, 28)
    assert train.binarization == "dynamic" and test.binarization == "fixed"
    assert set(test.labels.unique().tolist()) == set(range(10))


def test_binarizations():
    test = data.load_split("test", limit=500)
    grey = test.intensities()
    assert 0.0 <= float(grey.min()) and float(grey.max()) <= 1.0
    fixed_a = data.binarize(grey, "fixed", seed=3)
    assert torch.equal(fixed_a, data.binarize(grey, "fixed", seed=3))
    assert not torch.equal(fixed_a, data.binarize(grey, "fixed", seed=4))
    torch.manual_seed(0)
    dyn_a = data.binarize(grey, "dynamic")
    dyn_b = data.binarize(grey, "dynamic")
    assert not torch.equal(dyn_a, dyn_b)
    for b in (fixed_a, dyn_a, data.binarize(grey, "threshold")):
        assert b.dtype == torch.float32 and set(b.unique().tolist()) <= {0.0, 1.0}
    # a Bernoulli draw keeps the mean intensity (within 6 standard errors)
    se = float((grey * (1 - grey)).sum().sqrt() / grey.numel())
    assert abs(float(fixed_a.mean() - grey.mean())) < 6 * se
    assert torch.equal(data.binarize(grey, "threshold"), (grey > 0.5).float())
    with pytest.raises(ValueError):
        data.binarize(grey, "other")


def test_dynamic_draw_from_grey_levels_is_bernoulli_of_the_intensity():
    levels = torch.tensor([0, 1, 51, 128, 254, 255], dtype=torch.uint8)
    n = 200_000
    grey = levels.repeat(n, 1)
    gen = torch.Generator().manual_seed(0)
    binary = data.bernoulli_from_grey_levels(grey, generator=gen)
    assert binary.dtype == torch.float32 and binary.shape == grey.shape
    p = levels.double() / 255
    freq = binary.double().mean(0)
    se = (p * (1 - p) / n).sqrt()
    # extremes are exact; elsewhere within 6 standard errors (false failure < 1e-8 each)
    assert freq[0] == 0 and freq[-1] == 1
    assert torch.all((freq - p).abs()[1:-1] <= 6 * se[1:-1]), (freq, p)
    train = data.load_split("train", limit=256)
    torch.manual_seed(0)
    a, b = train.binary(), train.binary()
    assert not torch.equal(a, b) and set(a.unique().tolist()) <= {0.0, 1.0}


def test_fixed_binarization_independent_of_batching():
    test = data.load_split("test", "fixed", limit=300)
    whole = test.binary()
    batched = torch.cat(list(test.batches(64, shuffle=False)))
    assert torch.equal(whole, batched)
    index = torch.tensor([5, 1, 200])
    assert torch.equal(test.binary(index), whole[index])


def test_batches_cover_the_split_once():
    train = data.load_split("train", "threshold", limit=1000)
    gen = torch.Generator().manual_seed(0)
    batches = list(train.batches(128, generator=gen))
    assert [b.shape[0] for b in batches] == [128] * 7 + [104]
    got = torch.cat(batches).reshape(1000, -1).sum(1).sort().values
    want = train.binary().reshape(1000, -1).sum(1).sort().values
    assert torch.equal(got, want)
