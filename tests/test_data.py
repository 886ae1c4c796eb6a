"""snnlab.data: dataset loading (digits, MNIST-format files, CIFAR-10 image folders), caching, batching, errors."""

from __future__ import annotations

import gzip
import math
import os
import re
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import snnlab
import snnlab.data as data_mod
from snnlab.data import (
    CorruptDataError,
    CIFAR10_CLASSES,
    DATASETS,
    SPLITS,
    DatasetNotFoundError,
    SplitData,
    cache_dir,
    iterate_batches,
    load_dataset,
    random_subset,
    resolve_root,
    split_validation,
)

MNIST_GZ = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
REAL_REPO_DATA = data_mod._REPO_DATA  # before the autouse fixture redirects it


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test caches into its own folder, never into the repo's data/ or ../shared; returns its data cache."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SNNLAB_CACHE", str(cache))
    monkeypatch.setattr(data_mod, "_REPO_DATA", tmp_path / "repo-data")
    return cache / "data"


# --- helpers ---------------------------------------------------------------------------------------

def _write_idx(path: Path, array: np.ndarray, *, gz: bool) -> None:
    """Write ``array`` (uint8) in the idx format MNIST uses: magic (0x08 = ubyte, ndim), big-endian dims, bytes."""
    header = struct.pack(">I", (0x08 << 8) | array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    payload = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


def _tiny_mnist(root: Path, folder: str = "MNIST", *, gz: bool = True) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Write a small MNIST-format dataset (7 train, 5 test images) under ``root/<folder>/raw``; return its arrays."""
    rng = np.random.default_rng(123)
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    arrays = {}
    for split, prefix, n in (("train", "train", 7), ("test", "t10k", 5)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        suffix = ".gz" if gz else ""
        _write_idx(raw / f"{prefix}-images-idx3-ubyte{suffix}", images, gz=gz)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte{suffix}", labels, gz=gz)
        arrays[split] = (images, labels)
    return arrays


def _tiny_image_folder(root: Path, classes=("cat", "ant", "bee"), per_class: int = 3, size=(32, 32)) -> dict:
    """PNG images (lossless, exact pixel values) in ``root/CIFAR-10-images/{train,test}/<class>/``."""
    rng = np.random.default_rng(7)
    pixels: dict[tuple[str, str, str], np.ndarray] = {}
    for split in ("train", "test"):
        for cls in classes:
            folder = root / "CIFAR-10-images" / split / cls
            folder.mkdir(parents=True)
            for i in range(per_class):
                img = rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)
                Image.fromarray(img).save(folder / f"{i:04d}.png")
                pixels[(split, cls, f"{i:04d}.png")] = img
    return pixels


def _split(n: int = 23, shape=(1, 2, 2)) -> SplitData:
    """A SplitData whose label is the sample's index, to track coverage of batches."""
    x = torch.rand(n, *shape)
    return SplitData(x=x, y=torch.arange(n), name="toy", split="train", classes=tuple(str(i) for i in range(n)))


# --- digits ----------------------------------------------------------------------------------------

def test_datasets_names():
    assert DATASETS == ("digits", "mnist", "fashion-mnist", "cifar10")


@pytest.mark.parametrize("split,n", [("train", 1347), ("test", 450)])
def test_digits_shapes_and_ranges(split, n):
    d = load_dataset("digits", split, device="cpu")
    assert len(d) == n and d.name == "digits" and d.split == split
    assert d.x.shape == (n, 1, 8, 8) and d.x.dtype == torch.float32 and d.y.dtype == torch.int64
    assert d.input_shape == (1, 8, 8) and d.n_features == 64 and d.n_classes == 10
    assert d.classes == tuple(str(i) for i in range(10))
    assert float(d.x.min()) == 0.0 and float(d.x.max()) == 1.0
    # values are k/16: the original 0..16 intensities
    assert torch.equal(d.x * 16, (d.x * 16).round())
    assert set(d.y.tolist()) == set(range(10))
    assert d.device == torch.device("cpu")


def test_digits_split_is_a_fixed_stratified_partition():
    from sklearn.datasets import load_digits

    train = load_dataset("digits", "train", device="cpu", seed=0)
    test = load_dataset("digits", "test", device="cpu", seed=0)
    # the test set does not depend on seed, and loading twice gives the same data
    test_other_seed = load_dataset("digits", "test", device="cpu", seed=5)
    assert torch.equal(test.x, test_other_seed.x) and torch.equal(test.y, test_other_seed.y)
    train_again = load_dataset("digits", "train", device="cpu", seed=3)
    assert torch.equal(train.x, train_again.x) and torch.equal(train.y, train_again.y)

    # train + test is exactly the full dataset (as a multiset of (image, label) rows): disjoint and covering
    full = load_digits()
    full_rows = sorted(tuple(img.astype(int).ravel()) + (int(t),) for img, t in zip(full.images, full.target))
    ours = [torch.cat([train.x, test.x]), torch.cat([train.y, test.y])]
    our_rows = sorted(tuple((x * 16).round().int().ravel().tolist()) + (int(t),) for x, t in zip(*ours))
    assert our_rows == full_rows

    # stratified: each class's test share is 25% up to rounding
    full_counts = np.bincount(full.target, minlength=10)
    assert np.array_equal(test.y.bincount(minlength=10).numpy(), np.round(full_counts * 0.25).astype(int))


def test_subset_is_seeded_and_drawn_from_the_split():
    full = load_dataset("digits", "train", device="cpu")
    a = load_dataset("digits", "train", subset=100, seed=1, device="cpu")
    b = load_dataset("digits", "train", subset=100, seed=1, device="cpu")
    c = load_dataset("digits", "train", subset=100, seed=2, device="cpu")
    assert len(a) == 100 and a.x.shape == (100, 1, 8, 8) and a.n_classes == 10
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.x, c.x)
    # every subset sample is a sample of the split, with its own label
    flat_full = full.x.flatten(1)
    for x, y in zip(a.x.flatten(1), a.y):
        hits = (flat_full == x).all(dim=1).nonzero().flatten()
        assert len(hits) >= 1 and int(y) in full.y[hits].tolist()
    whole = load_dataset("digits", "train", subset=len(full), seed=9, device="cpu")
    assert torch.equal(whole.x, full.x) and torch.equal(whole.y, full.y)


# --- validation split and subsets of loaded data ---------------------------------------------------

def _tagged(labels: list[int]) -> SplitData:
    """A SplitData whose x holds the sample's index (to track which samples go where), labels as given."""
    n = len(labels)
    x = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1)
    return SplitData(x=x, y=torch.tensor(labels), name="toy", split="train", classes=("a", "b", "c"))


def _ids(data: SplitData) -> list[int]:
    return data.x.flatten().long().tolist()


def test_validation_split_is_a_fixed_stratified_partition():
    labels = [0] * 50 + [1] * 30 + [2] * 21
    data = _tagged(labels)
    train, val = split_validation(data, 0.2)
    assert sorted(_ids(train) + _ids(val)) == list(range(len(labels)))  # a partition of the training set
    assert _ids(val) == sorted(_ids(val)) and _ids(train) == sorted(_ids(train))  # original order kept
    # stratified: round(0.2 * n_c) of each class (50 -> 10, 30 -> 6, 21 -> 4.2 -> 4)
    assert val.y.bincount(minlength=3).tolist() == [10, 6, 4]
    assert torch.equal(val.y, torch.tensor(labels)[_ids(val)])
    assert (val.split, train.split, val.classes) == ("val", "train", data.classes)
    again, again_val = split_validation(data, 0.2)  # fixed seed: the same split every time
    assert _ids(again_val) == _ids(val) and _ids(again) == _ids(train)
    _, other = split_validation(data, 0.2, seed=5)
    assert _ids(other) != _ids(val)
    _, more = split_validation(data, 0.4)
    assert more.y.bincount(minlength=3).tolist() == [20, 12, 8]


def test_growing_the_training_subset_never_moves_samples_from_validation():
    """Training subsets drawn from what the split leaves: nested, and never a validation sample."""
    digits = load_dataset("digits", "train", device="cpu")
    train, val = split_validation(_tagged(digits.y.tolist()), 0.25)  # digits' labels, samples tagged by index
    assert len(val) == sum(math.floor(0.25 * n + 0.5) for n in digits.y.bincount().tolist())
    sizes = (100, 400, len(train))
    parts = [set(_ids(random_subset(train, n))) for n in sizes]
    assert parts[0] <= parts[1] <= parts[2] == set(_ids(train))
    assert not parts[2] & set(_ids(val))


@pytest.mark.parametrize(
    ("fraction", "error", "fragment"),
    [
        (1.5, ValueError, "fraction=1.5; allowed: a fraction in (0, 1)"),
        (0.0, ValueError, "fraction=0.0; allowed"),
        (1, ValueError, "fraction=1; allowed"),
        (float("nan"), ValueError, "allowed: a fraction in (0, 1)"),
        ("0.2", TypeError, "fraction must be a real number"),
        (True, TypeError, "fraction must be a real number"),
        (0.001, ValueError, "leaves 0 for validation"),
    ],
)
def test_validation_split_rejects_bad_fractions(fraction, error, fragment):
    with pytest.raises(error, match=re.escape(fragment)):
        split_validation(_tagged([0] * 10 + [1] * 10), fraction)


def test_validation_split_refuses_the_test_split():
    test = load_dataset("digits", "test", subset=50, device="cpu")
    with pytest.raises(ValueError, match="test split"):
        split_validation(test, 0.2)


def test_random_subset_is_nested_and_follows_load_dataset():
    data = _tagged([i % 3 for i in range(40)])
    small, large = random_subset(data, 10, seed=3), random_subset(data, 25, seed=3)
    assert set(_ids(small)) <= set(_ids(large)) and _ids(large) == sorted(_ids(large))
    assert _ids(random_subset(data, 10, seed=4)) != _ids(small)
    assert _ids(random_subset(data, 40)) == list(range(40))
    full = load_dataset("digits", "train", device="cpu")
    a, b = load_dataset("digits", "train", subset=120, seed=2, device="cpu"), random_subset(full, 120, seed=2)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    with pytest.raises(ValueError, match="size=41 is larger than the 40 samples"):
        random_subset(data, 41)
    with pytest.raises(TypeError, match="SplitData"):
        random_subset((data.x, data.y), 3)


# --- batches ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("batch_size", [1, 5, 23, 50])
def test_batches_cover_every_index_once(batch_size):
    d = _split(23)
    seen = []
    sizes = []
    for x, y in iterate_batches(d, batch_size, generator=torch.Generator().manual_seed(0)):
        assert x.shape[1:] == d.x.shape[1:] and len(x) == len(y)
        assert torch.equal(x, d.x[y])  # x and y stay paired
        seen.extend(y.tolist())
        sizes.append(len(y))
    assert sorted(seen) == list(range(23))
    assert all(s == batch_size for s in sizes[:-1]) and 1 <= sizes[-1] <= batch_size


def test_batches_drop_last_and_no_shuffle():
    d = _split(23)
    batches = list(iterate_batches(d, 5, shuffle=False, drop_last=True))
    assert [len(y) for _, y in batches] == [5, 5, 5, 5]
    assert torch.equal(torch.cat([y for _, y in batches]), torch.arange(20))
    assert list(iterate_batches(d, 30, drop_last=True)) == []
    ordered = list(iterate_batches(d, 10, shuffle=False))
    assert torch.equal(torch.cat([y for _, y in ordered]), torch.arange(23))


def test_batches_are_seed_deterministic():
    d = _split(40)

    def order(seed):
        return torch.cat([y for _, y in iterate_batches(d, 8, generator=torch.Generator().manual_seed(seed))])

    assert torch.equal(order(3), order(3))
    assert not torch.equal(order(3), order(4))
    # one generator across epochs gives a new permutation each epoch
    gen = torch.Generator().manual_seed(3)
    e1 = torch.cat([y for _, y in iterate_batches(d, 8, generator=gen)])
    e2 = torch.cat([y for _, y in iterate_batches(d, 8, generator=gen)])
    assert torch.equal(e1, order(3)) and not torch.equal(e1, e2)


# --- argument errors -------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,error,fragment", [
    (dict(name="imagenet"), ValueError, "name='imagenet'"),
    (dict(name=3), TypeError, "name must be a string"),
    (dict(split="valid"), ValueError, "split='valid'"),
    (dict(subset=0), ValueError, "subset=0"),
    (dict(subset=-4), ValueError, "subset=-4"),
    (dict(subset=1.5), TypeError, "subset must be an integer"),
    (dict(subset=True), TypeError, "subset must be an integer"),
    (dict(subset=5000), ValueError, "subset=5000 is larger than the 1347"),
    (dict(seed=-1), ValueError, "seed=-1"),
    (dict(seed="0"), TypeError, "seed must be an integer"),
    (dict(device="tpu"), ValueError, "device='tpu'"),
    (dict(device=0), TypeError, "device must be"),
    (dict(root=12), TypeError, "root must be a path"),
    (dict(download="yes"), TypeError, "download must be True or False"),
    (dict(progress=None), TypeError, "progress must be True or False"),
])
def test_load_dataset_rejects_bad_arguments(kwargs, error, fragment):
    args = dict(name="digits", split="train", device="cpu") | kwargs
    name, split = args.pop("name"), args.pop("split")
    if "root" in kwargs:
        name = "mnist"
    with pytest.raises(error, match=fragment.replace("(", r"\(").replace("[", r"\[")):
        load_dataset(name, split, **args)


@pytest.mark.parametrize("call,error,fragment", [
    (lambda d: iterate_batches(d, 0), ValueError, "batch_size=0"),
    (lambda d: iterate_batches(d, 2.0), TypeError, "batch_size must be an integer"),
    (lambda d: iterate_batches(d, 2, generator=3), TypeError, "generator must be a torch.Generator"),
    (lambda d: iterate_batches(d, 2, shuffle="no"), TypeError, "shuffle must be True or False"),
    (lambda d: iterate_batches(d, 2, drop_last=1), TypeError, "drop_last must be True or False"),
    (lambda d: iterate_batches((d.x, d.y), 2), TypeError, "data must be a SplitData"),
])
def test_iterate_batches_rejects_bad_arguments(call, error, fragment):
    with pytest.raises(error, match=fragment):
        call(_split(4))  # raised at call time, before iteration starts


def test_splitdata_validates_its_fields():
    x = torch.rand(4, 1, 2, 2)
    with pytest.raises(ValueError, match="x has 4 samples but y has 3"):
        SplitData(x=x, y=torch.arange(3), name="t", split="train", classes=("a",))
    with pytest.raises(TypeError, match="x must be a float32"):
        SplitData(x=x.double(), y=torch.arange(4), name="t", split="train", classes=("a",))
    with pytest.raises(TypeError, match="y must be an int64"):
        SplitData(x=x, y=torch.arange(4).int(), name="t", split="train", classes=("a",))
    with pytest.raises(TypeError, match="classes must be a tuple"):
        SplitData(x=x, y=torch.arange(4), name="t", split="train", classes=["a"])


def test_resolve_root(monkeypatch, tmp_path):
    monkeypatch.delenv("SNNLAB_DATA", raising=False)
    monkeypatch.setattr(data_mod, "_REPO_DATA", REAL_REPO_DATA)
    assert resolve_root() == Path(snnlab.__file__).resolve().parents[1] / "data"
    monkeypatch.setenv("SNNLAB_DATA", str(tmp_path / "env"))
    assert resolve_root() == tmp_path / "env"
    assert resolve_root(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_root(str(tmp_path)) == tmp_path


# --- MNIST-format files ----------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [True, False])
def test_tiny_mnist_loads_exact_values(tmp_path, gz):
    arrays = _tiny_mnist(tmp_path / "root", gz=gz)
    for split, n in (("train", 7), ("test", 5)):
        d = load_dataset("mnist", split, root=tmp_path / "root", device="cpu")
        images, labels = arrays[split]
        assert d.x.shape == (n, 1, 28, 28) and d.x.dtype == torch.float32 and len(d) == n
        assert torch.allclose(d.x[:, 0], torch.from_numpy(images).float() / 255)
        assert torch.equal(d.y, torch.from_numpy(labels).long())
        assert d.n_classes == 10 and d.n_features == 784


def test_tiny_fashion_mnist_via_env_root_and_cache(tmp_path, monkeypatch, _private_cache):
    import torchvision

    arrays = _tiny_mnist(tmp_path / "root", folder="FashionMNIST")
    monkeypatch.setenv("SNNLAB_DATA", str(tmp_path / "root"))
    first = load_dataset("fashion-mnist", "test", device="cpu", subset=3, seed=1)
    assert first.classes[0] == "T-shirt/top" and first.n_classes == 10 and len(first) == 3
    assert list(_private_cache.glob("fashion-mnist-test-*.pt"))

    def broken(*args, **kwargs):
        raise AssertionError("the cache should have served this load")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", broken)
    monkeypatch.setattr(data_mod, "_read_idx", broken)
    second = load_dataset("fashion-mnist", "test", device="cpu", subset=3, seed=1)
    assert torch.equal(first.x, second.x) and torch.equal(first.y, second.y)
    full = load_dataset("fashion-mnist", "test", device="cpu")
    assert torch.equal(full.y, torch.from_numpy(arrays["test"][1]).long())


def test_missing_mnist_names_folder_and_files(tmp_path):
    (tmp_path / "MNIST" / "raw").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("mnist", "train", root=tmp_path, device="cpu", download=False)
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    assert str(tmp_path / "MNIST" / "raw") in message
    for name in MNIST_GZ:
        assert name in message


def test_partial_mnist_is_reported_missing(tmp_path):
    _tiny_mnist(tmp_path)
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_dataset("mnist", "test", root=tmp_path, device="cpu", download=False)


# --- corrupt MNIST-format files --------------------------------------------------------------------

def test_truncated_mnist_gz_names_the_file(tmp_path):
    _tiny_mnist(tmp_path)
    bad = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:-20])  # cut inside the deflate stream: gzip raises EOFError
    with pytest.raises(CorruptDataError, match=re.escape(str(bad)) + ".*truncated") as info:
        load_dataset("mnist", "train", root=tmp_path, device="cpu", download=False)
    assert isinstance(info.value, ValueError)


def test_a_file_that_is_not_gzip_names_the_file(tmp_path):
    _tiny_mnist(tmp_path)
    bad = tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(b"<html>not found</html>")
    with pytest.raises(CorruptDataError, match=re.escape(str(bad))):
        load_dataset("mnist", "test", root=tmp_path, device="cpu", download=False)


@pytest.mark.parametrize("where", ["crc", "length", "stream"])
def test_a_gz_with_a_wrong_checksum_names_the_file(tmp_path, where):
    """A .gz whose bytes were damaged but not shortened: the gzip trailer's CRC-32 or length no longer
    matches what decompresses (or the deflate stream itself is broken)."""
    _tiny_mnist(tmp_path)
    bad = tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz"
    blob = bytearray(bad.read_bytes())
    position = {"crc": len(blob) - 8, "length": len(blob) - 3, "stream": len(blob) // 2}[where]
    blob[position] ^= 0xFF
    bad.write_bytes(bytes(blob))
    with pytest.raises(CorruptDataError, match=re.escape(str(bad)) + ".*truncated or damaged"):
        load_dataset("mnist", "test", root=tmp_path, device="cpu", download=False)
    load_dataset("mnist", "train", root=tmp_path, device="cpu", download=False)  # the other split's files are fine


def test_an_unreadable_cache_file_is_ignored_and_rewritten(tmp_path, _private_cache):
    arrays = _tiny_mnist(tmp_path)
    load_dataset("mnist", "test", root=tmp_path, device="cpu", download=False)
    (entry,) = _private_cache.glob("mnist-test-*.pt")
    entry.write_bytes(entry.read_bytes()[:50])  # truncated
    with pytest.warns(UserWarning, match="ignoring unreadable cache file"):
        d = load_dataset("mnist", "test", root=tmp_path, device="cpu", download=False)
    assert torch.equal(d.y, torch.from_numpy(arrays["test"][1]).long())
    assert torch.load(entry, weights_only=True)["y"].shape == (5,)  # decoded again and rewritten


@pytest.mark.parametrize(
    "damage, fragment",
    [
        (lambda blob: blob[:10], "shorter than the 16-byte header"),
        (lambda blob: blob[:-5], "announces shape"),
        (lambda blob: blob + b"\0", "announces shape"),
        (lambda blob: struct.pack(">I", 0x0801) + blob[4:], "magic number is 0x00000801, expected 0x00000803"),
    ],
)
def test_short_or_foreign_idx_file_names_the_file(tmp_path, damage, fragment):
    _tiny_mnist(tmp_path, gz=False)
    bad = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    bad.write_bytes(damage(bad.read_bytes()))
    with pytest.raises(CorruptDataError, match=re.escape(str(bad)) + ".*" + re.escape(fragment)):
        load_dataset("mnist", "train", root=tmp_path, device="cpu", download=False)


def test_idx_images_and_labels_must_agree(tmp_path):
    _tiny_mnist(tmp_path, gz=False)
    raw = tmp_path / "MNIST" / "raw"
    _write_idx(raw / "t10k-labels-idx1-ubyte", np.zeros(4, dtype=np.uint8), gz=False)  # 5 images, 4 labels
    with pytest.raises(CorruptDataError, match="5 images but .*t10k-labels-idx1-ubyte holds 4 labels"):
        load_dataset("mnist", "test", root=tmp_path, device="cpu", download=False)
    _write_idx(raw / "t10k-labels-idx1-ubyte", np.array([0, 1, 2, 3, 10], dtype=np.uint8), gz=False)
    with pytest.raises(CorruptDataError, match=r"holds label 10; allowed: 0\.\.9"):
        load_dataset("mnist", "test", root=tmp_path, device="cpu", download=False)


@pytest.mark.realdata
def test_real_mnist(shared_data, tmp_path):
    raw = tmp_path / "root" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in MNIST_GZ:
        shutil.copy(shared_data / "MNIST" / "raw" / name, raw / name)
    train = load_dataset("mnist", "train", root=tmp_path / "root", device="cpu")
    test = load_dataset("mnist", "test", root=tmp_path / "root", device="cpu")
    assert len(train) == 60000 and len(test) == 10000
    assert train.x.shape == (60000, 1, 28, 28) and test.input_shape == (1, 28, 28)
    assert int(train.y.min()) == 0 and int(train.y.max()) == 9 and test.y.unique().tolist() == list(range(10))
    assert train.y.bincount().tolist()[:2] == [5923, 6742]  # the published class counts
    assert 0.0 <= float(train.x.min()) and float(train.x.max()) == 1.0


@pytest.mark.realdata
def test_read_only_root_caches_elsewhere(shared_data, tmp_path, monkeypatch):
    """Pointing the root at the read-only shared folder works; without $SNNLAB_CACHE a checkout caches in
    <repo>/data/.cache."""
    monkeypatch.delenv("SNNLAB_CACHE")
    before = sorted(p.name for p in shared_data.iterdir())
    d = load_dataset("mnist", "test", root=shared_data, device="cpu", subset=50)
    assert len(d) == 50
    assert sorted(p.name for p in shared_data.iterdir()) == before
    assert list((tmp_path / "repo-data" / ".cache").glob("mnist-test-*.pt"))


# --- CIFAR-10 image folders ------------------------------------------------------------------------

def test_image_folder_loads_exact_pixels_and_uses_cache(tmp_path, monkeypatch):
    pixels = _tiny_image_folder(tmp_path)
    d = load_dataset("cifar10", "train", root=tmp_path, device="cpu", progress=False)
    assert d.classes == ("ant", "bee", "cat")  # sorted folder names
    assert d.x.shape == (9, 3, 32, 32) and d.input_shape == (3, 32, 32) and d.n_features == 3072
    assert d.y.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    expected = torch.from_numpy(pixels[("train", "bee", "0001.png")]).permute(2, 0, 1).float() / 255
    assert torch.allclose(d.x[4], expected)

    def broken(*args, **kwargs):
        raise AssertionError("the cache should have served this load")

    monkeypatch.setattr(data_mod, "_decode_images", broken)
    again = load_dataset("cifar10", "train", root=tmp_path, device="cpu", progress=False)
    assert torch.equal(again.x, d.x) and torch.equal(again.y, d.y)
    # a changed folder is not served from the stale cache
    Image.fromarray(np.zeros((32, 32, 3), dtype=np.uint8)).save(tmp_path / "CIFAR-10-images/train/ant/9999.png")
    with pytest.raises(AssertionError, match="the cache should have served"):
        load_dataset("cifar10", "train", root=tmp_path, device="cpu", progress=False)


def test_image_folder_errors(tmp_path):
    _tiny_image_folder(tmp_path / "a")
    (tmp_path / "a" / "CIFAR-10-images" / "test" / "dog").mkdir()
    with pytest.raises(CorruptDataError, match=r"class folders differ between the splits \(\['dog'\] only in"):
        load_dataset("cifar10", "train", root=tmp_path / "a", device="cpu", progress=False)

    _tiny_image_folder(tmp_path / "b")
    Image.fromarray(np.zeros((16, 16, 3), dtype=np.uint8)).save(tmp_path / "b/CIFAR-10-images/test/bee/0009.png")
    with pytest.raises(ValueError, match="all images of a split must share one size"):
        load_dataset("cifar10", "test", root=tmp_path / "b", device="cpu", progress=False)

    with pytest.raises(DatasetNotFoundError, match="cifar-10-batches-py"):
        load_dataset("cifar10", "test", root=tmp_path / "nothing", device="cpu", download=False)


def test_hidden_folders_and_files_are_not_classes_or_images(tmp_path):
    """A notebook's ``.ipynb_checkpoints`` would sort first and become class 0, shifting every label."""
    _tiny_image_folder(tmp_path)
    clean = load_dataset("cifar10", "train", root=tmp_path, device="cpu", progress=False)
    images = tmp_path / "CIFAR-10-images"
    for split in ("train", "test"):
        hidden = images / split / ".ipynb_checkpoints"
        hidden.mkdir()
        Image.fromarray(np.zeros((32, 32, 3), dtype=np.uint8)).save(hidden / "0000.png")
        (images / split / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
        (images / split / "ant" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
        (images / split / "bee" / "._0000.png").write_bytes(b"\0\5\26\7 macOS resource fork")
    d = load_dataset("cifar10", "train", root=tmp_path, device="cpu", progress=False)
    assert d.classes == ("ant", "bee", "cat")
    assert torch.equal(d.y, clean.y) and torch.equal(d.x, clean.x)


def test_a_class_missing_from_one_split_is_named(tmp_path):
    _tiny_image_folder(tmp_path)
    shutil.rmtree(tmp_path / "CIFAR-10-images" / "test" / "bee")
    for split in ("train", "test"):
        with pytest.raises(CorruptDataError, match=r"class folders differ between the splits \(\['bee'\] only in .*train"):
            load_dataset("cifar10", split, root=tmp_path, device="cpu", progress=False)


def test_an_empty_class_folder_is_named(tmp_path):
    _tiny_image_folder(tmp_path)
    for f in (tmp_path / "CIFAR-10-images" / "test" / "bee").iterdir():
        f.unlink()
    empty = tmp_path / "CIFAR-10-images" / "test" / "bee"
    with pytest.raises(CorruptDataError, match=re.escape(str(empty)) + " holds no images"):
        load_dataset("cifar10", "test", root=tmp_path, device="cpu", progress=False)


@pytest.mark.parametrize("content", [b"this is text, not a JPEG", b""])
def test_a_file_that_is_not_an_image_is_named(tmp_path, content):
    _tiny_image_folder(tmp_path)
    bad = tmp_path / "CIFAR-10-images" / "train" / "cat" / "0005.jpg"
    bad.write_bytes(content)
    with pytest.raises(CorruptDataError, match=re.escape(str(bad)) + " is not a readable image"):
        load_dataset("cifar10", "train", root=tmp_path, device="cpu", progress=False)


def test_files_that_are_not_images_by_name_are_not_samples(tmp_path):
    """A README or labels file next to the images (in a class folder or the split folder) is neither a
    class nor a sample; only the image suffixes are read (a file with one that does not decode is an error)."""
    _tiny_image_folder(tmp_path)
    clean = load_dataset("cifar10", "train", root=tmp_path, device="cpu", progress=False)
    images = tmp_path / "CIFAR-10-images"
    (images / "train" / "README.txt").write_text("CIFAR-10 export")
    (images / "train" / "ant" / "labels.csv").write_text("file,label\n")
    (images / "train" / "bee" / "notes").write_bytes(b"\x00\x01")
    d = load_dataset("cifar10", "train", root=tmp_path, device="cpu", progress=False)
    assert d.classes == clean.classes and torch.equal(d.x, clean.x) and torch.equal(d.y, clean.y)


def test_a_truncated_image_is_named(tmp_path):
    _tiny_image_folder(tmp_path)
    bad = tmp_path / "CIFAR-10-images" / "train" / "ant" / "0001.png"
    bad.write_bytes(bad.read_bytes()[:200])
    with pytest.raises(CorruptDataError, match=re.escape(str(bad))):
        load_dataset("cifar10", "train", root=tmp_path, device="cpu", progress=False)


@pytest.mark.realdata
def test_real_cifar10_folder_sample(shared_data, tmp_path):
    source = shared_data / "CIFAR-10-images"
    for split in ("train", "test"):
        for cls in CIFAR10_CLASSES:
            target = tmp_path / "CIFAR-10-images" / split / cls
            target.mkdir(parents=True)
            for f in sorted((source / split / cls).iterdir())[:5]:
                shutil.copy(f, target / f.name)
    d = load_dataset("cifar10", "test", root=tmp_path, device="cpu", progress=False)
    assert d.classes == CIFAR10_CLASSES and d.n_classes == 10
    assert d.x.shape == (50, 3, 32, 32) and d.y.bincount().tolist() == [5] * 10
    first = sorted((tmp_path / "CIFAR-10-images/test/airplane").iterdir())[0]
    expected = torch.from_numpy(np.array(Image.open(first).convert("RGB"))).permute(2, 0, 1).float() / 255
    assert torch.equal(d.x[0], expected)
    assert 0.0 <= float(d.x.min()) and float(d.x.max()) <= 1.0


def test_root_is_checked_for_the_embedded_digits_too():
    """``root=12`` used to be ignored silently for digits (found by tests/test_properties.py)."""
    with pytest.raises(TypeError, match=r"root must be a path \(str or os.PathLike\) or None, got int \(12\)"):
        load_dataset("digits", "train", root=12, device="cpu")


# --- the cache: never inside a data root -----------------------------------------------------------

DATA_ROOTS = {  # kind -> (dataset, writer of a tiny copy under a root)
    "mnist-gz": ("mnist", lambda root: _tiny_mnist(root)),
    "mnist-extracted": ("mnist", lambda root: _tiny_mnist(root, gz=False)),
    "fashion-mnist": ("fashion-mnist", lambda root: _tiny_mnist(root, "FashionMNIST")),
    "cifar10-image-folder": ("cifar10", lambda root: _tiny_image_folder(root)),
}


def test_cache_dir_is_snnlab_cache_else_the_checkout_else_the_user_cache(tmp_path, monkeypatch):
    assert data_mod._IN_CHECKOUT  # the tests run from a source checkout
    monkeypatch.setenv("SNNLAB_CACHE", str(tmp_path / "chosen"))
    assert cache_dir() == tmp_path / "chosen" / "data"  # beside $SNNLAB_CACHE/kernels of the compiled kernels
    monkeypatch.setenv("SNNLAB_CACHE", "  ")  # blank counts as unset
    assert cache_dir() == tmp_path / "repo-data" / ".cache"
    monkeypatch.delenv("SNNLAB_CACHE")
    monkeypatch.setattr(data_mod, "_IN_CHECKOUT", False)  # an installed wheel never writes into site-packages
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "snnlab" / "data"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "snnlab" / "data"


@pytest.mark.parametrize("cache_env", [True, False], ids=["SNNLAB_CACHE", "user-cache"])
@pytest.mark.parametrize("kind", list(DATA_ROOTS))
def test_loading_leaves_a_writable_data_root_byte_for_byte_unchanged(kind, cache_env, tmp_path, monkeypatch,
                                                                      _private_cache, tree_snapshot):
    """Whatever the permission bits say (here: everyone may write everywhere, and the old ``.snnlab-cache``
    folder is there), the loader writes nothing into the root; its cache goes where cache_dir() says."""
    name, write = DATA_ROOTS[kind]
    root = tmp_path / "root"
    write(root)
    (root / ".snnlab-cache").mkdir()  # where snnlab cached before: never written to again
    for folder in [root, *root.rglob("*")]:
        if folder.is_dir():
            folder.chmod(0o777)
    if cache_env:
        expected_cache = _private_cache
    else:
        monkeypatch.delenv("SNNLAB_CACHE")
        monkeypatch.setattr(data_mod, "_IN_CHECKOUT", False)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        expected_cache = tmp_path / "xdg" / "snnlab" / "data"
    before = tree_snapshot(root)
    loaded = {}
    for attempt in range(2):  # the first load decodes and writes the cache, the second reads it
        for split in SPLITS:
            d = load_dataset(name, split, root=root, device="cpu", download=False, progress=False)
            if attempt:
                assert torch.equal(d.x, loaded[split].x) and torch.equal(d.y, loaded[split].y)
            loaded[split] = d
    after = tree_snapshot(root)
    assert after == before  # pytest names the entries that differ
    assert sorted(p.name.split("-")[-2] for p in expected_cache.glob(f"{name}-*.pt")) == ["test", "train"]
    assert [p.name for p in expected_cache.iterdir() if not p.name.endswith(".pt")] == []  # no temporary files left


def test_two_data_roots_never_share_a_cache_entry(tmp_path, _private_cache):
    """Two roots whose files have the same names, sizes and modification times but other pixels: one entry each."""
    first = _tiny_mnist(tmp_path / "a", gz=False)
    _tiny_mnist(tmp_path / "b", gz=False)
    other = np.full((5, 28, 28), 7, dtype=np.uint8)
    target = tmp_path / "b" / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    _write_idx(target, other, gz=False)
    stamp = (tmp_path / "a" / "MNIST" / "raw" / "t10k-images-idx3-ubyte").stat()
    os.utime(target, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    a = load_dataset("mnist", "test", root=tmp_path / "a", device="cpu", download=False)
    b = load_dataset("mnist", "test", root=tmp_path / "b", device="cpu", download=False)
    assert torch.equal((a.x * 255).round().to(torch.uint8)[:, 0], torch.from_numpy(first["test"][0]))
    assert torch.equal((b.x * 255).round().to(torch.uint8)[:, 0], torch.from_numpy(other))
    assert len(list(_private_cache.glob("mnist-test-*.pt"))) == 2


def test_an_unwritable_cache_warns_and_loads_anyway(tmp_path, monkeypatch, tree_snapshot):
    """A cache folder that cannot be made (here $SNNLAB_CACHE is a file) costs a warning, not the load, and the
    root is still not written to."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("SNNLAB_CACHE", str(blocker))
    _tiny_mnist(tmp_path / "root")
    before = tree_snapshot(tmp_path / "root")
    with pytest.warns(UserWarning, match="could not cache decoded data in .*not-a-folder"):
        d = load_dataset("mnist", "train", root=tmp_path / "root", device="cpu", download=False)
    assert len(d) == 7
    assert tree_snapshot(tmp_path / "root") == before
