"""Datasets as tensors on the device, and a batch iterator over index slices (no DataLoader).

The study's datasets are small enough to live on the device whole: ``load_dataset``
returns a ``SplitData`` holding ``x`` float32 ``[N, C, H, W]`` in [0, 1] and ``y`` int64
``[N]`` already on the device, and ``iterate_batches`` slices them.

Sources (see ``data/README.md``):

- ``digits``: scikit-learn's bundled 8x8 digits, a fixed stratified 75/25 train/test split.
- ``mnist`` / ``fashion-mnist``: torchvision's layout ``<root>/MNIST/raw`` (``FashionMNIST/raw``)
  holding the four ``*-idx?-ubyte`` files, gzipped or extracted; downloaded when missing and
  ``download=True`` and a network is available.
- ``cifar10``: torchvision's ``<root>/cifar-10-batches-py``, or an image-folder export
  ``<root>/CIFAR-10-images/{train,test}/<class>/*.jpg|png`` (classes = sorted folder names; hidden
  folders and files, such as ``.ipynb_checkpoints`` or ``.DS_Store``, are ignored).

Damaged data is refused with a ``CorruptDataError`` (a ``ValueError``) naming the file or folder: a
truncated ``.gz``, an idx file with a wrong magic number or a length its header does not announce,
a file that is not an image, an empty class folder, or class folders that differ between the splits.

Validation: ``split_validation`` carves a stratified validation set from a training split with a
fixed seed (the same samples for every trial of a comparison, whatever the trial's seed; the test
split is never touched); ``random_subset`` draws a seeded subset of a split already loaded, by
the same rule as ``load_dataset(subset=...)`` (nested: for one seed, a smaller subset is a part of
a larger one).

Decoded MNIST-style files and image folders are cached as uint8 tensors so the second load takes
seconds. The cache never goes into a data root the loader was given (whatever its permission bits):
it lives in ``cache_dir()``: ``$SNNLAB_CACHE/data``, else ``<checkout>/data/.cache`` when snnlab runs
from a source checkout, else ``$XDG_CACHE_HOME/snnlab/data`` (``~/.cache/snnlab/data``). An entry is
named by a hash of the resolved source folder and its files (names, sizes, modification times), so
two data roots never share one.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import struct
import tempfile
import warnings
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from snnlab.device import resolve_device
from snnlab.validation import check_choice, check_int

DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10")
SPLITS = ("train", "test")

DIGITS_TEST_FRACTION = 0.25
DIGITS_SPLIT_SEED = 1797  # fixed on purpose: the digits test set never depends on ``seed``
VALIDATION_SEED = 2718  # fixed on purpose: every trial of a comparison validates on the same samples

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MNIST_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
DIGIT_CLASSES = tuple(str(i) for i in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR_IMAGE_FOLDER = "CIFAR-10-images"
CIFAR_BATCHES_FOLDER = "cifar-10-batches-py"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
CACHE_ENV = "SNNLAB_CACHE"  # shared with the compiled kernels (``$SNNLAB_CACHE/kernels``, snnlab.native)
CACHE_SUBFOLDER = "data"
CACHE_VERSION = 2  # 2: entries keyed by resolved file paths too, and kept out of data roots

_REPO = Path(__file__).resolve().parents[1]
_REPO_DATA = _REPO / "data"
# A source checkout (editable install, or run from the repository) has its pyproject.toml beside the
# package; an installed wheel does not, and must not write into site-packages.
_IN_CHECKOUT = (_REPO / "pyproject.toml").is_file()


class DatasetNotFoundError(FileNotFoundError):
    """The dataset's files are not under the data root (and could not be downloaded); the message says where to put what."""


class CorruptDataError(ValueError):
    """A dataset file or folder is there but damaged or inconsistent (a truncated or foreign file, an
    empty class folder, splits with different classes); the message names it and says what is expected."""


@dataclass(frozen=True, eq=False)
class SplitData:
    """One split of a dataset on its device: ``x`` float32 ``[N, C, H, W]`` in [0, 1], ``y`` int64 ``[N]``."""

    x: Tensor
    y: Tensor
    name: str
    split: str
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.x, Tensor) or self.x.dim() != 4 or self.x.dtype != torch.float32:
            raise TypeError(f"x must be a float32 tensor [N, C, H, W], got {_describe(self.x)}")
        if not isinstance(self.y, Tensor) or self.y.dim() != 1 or self.y.dtype != torch.int64:
            raise TypeError(f"y must be an int64 tensor [N], got {_describe(self.y)}")
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(f"x has {self.x.shape[0]} samples but y has {self.y.shape[0]}; they must match")
        if self.x.device != self.y.device:
            raise ValueError(f"x is on {self.x.device} but y is on {self.y.device}; they must share a device")
        if not isinstance(self.classes, tuple) or not all(isinstance(c, str) for c in self.classes):
            raise TypeError(f"classes must be a tuple of str, got {self.classes!r}")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one sample."""
        c, h, w = self.x.shape[1:]
        return (int(c), int(h), int(w))

    @property
    def n_features(self) -> int:
        """``C * H * W``: the input width of an MLP on flattened samples."""
        c, h, w = self.input_shape
        return c * h * w

    @property
    def n_classes(self) -> int:
        """Number of classes (``len(classes)``), not only those present in this split or subset."""
        return len(self.classes)

    @property
    def device(self) -> torch.device:
        """The device both tensors live on."""
        return self.x.device

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __repr__(self) -> str:
        return (f"SplitData(name={self.name!r}, split={self.split!r}, n={len(self)}, "
                f"input_shape={self.input_shape}, n_classes={self.n_classes}, device={self.device})")


class _Raw(NamedTuple):
    """A decoded split before subsetting: ``x`` uint8 ``[N, C, H, W]`` with values in [0, scale]."""

    x: Tensor
    y: Tensor
    classes: tuple[str, ...]
    scale: float


def resolve_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The data root: ``root`` if given, else ``$SNNLAB_DATA`` if set, else ``<repo>/data``."""
    if root is None:
        env = os.environ.get("SNNLAB_DATA", "").strip()
        return Path(env).expanduser() if env else _REPO_DATA
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a path (str or os.PathLike) or None, got {type(root).__name__} ({root!r})")
    return Path(root).expanduser()


def load_dataset(
    name: str,
    split: str,
    *,
    root: str | os.PathLike[str] | None = None,
    subset: int | None = None,
    device: str | torch.device = "auto",
    seed: int = 0,
    download: bool = True,
    progress: bool = True,
) -> SplitData:
    """Load one split of ``name`` onto ``device`` as a ``SplitData``.

    ``subset``: keep a random subset of that many samples, drawn with ``seed`` (same seed, same subset).
    ``download``: fetch mnist / fashion-mnist / cifar10 through torchvision when the files are missing.
    ``progress``: show a progress bar while decoding an image folder.
    Raises ``DatasetNotFoundError`` (a ``FileNotFoundError``) naming the folder and files when data is missing.
    """
    check_choice("name", name, DATASETS)
    check_choice("split", split, SPLITS)
    if subset is not None:
        check_int("subset", subset, minimum=1)
    check_int("seed", seed, minimum=0)
    for flag, value in (("download", download), ("progress", progress)):
        if not isinstance(value, bool):
            raise TypeError(f"{flag} must be True or False, got {type(value).__name__} ({value!r})")
    data_root = resolve_root(root)  # checked for every dataset: digits ignores it, but a wrong type is a mistake
    dev = resolve_device(device)

    if name == "digits":
        raw = _load_digits(split)
    elif name in MNIST_FOLDERS:
        raw = _load_mnist_like(name, split, data_root, download)
    else:
        raw = _load_cifar10(split, data_root, download, progress)

    x, y = raw.x, raw.y
    if subset is not None:
        if subset > len(y):
            raise ValueError(f"subset={subset} is larger than the {len(y)} samples of {name} {split}; "
                             f"use subset <= {len(y)} or subset=None for all")
        keep = _subset_indices(len(y), subset, seed)
        x, y = x[keep], y[keep]
    x = x.to(dev).to(torch.float32).div_(raw.scale)
    return SplitData(x=x, y=y.to(dev), name=name, split=split, classes=raw.classes)


def _subset_indices(n: int, size: int, seed: int) -> Tensor:
    """Sorted indices of a seeded random subset of ``size`` out of ``n`` (a prefix of one permutation:
    for one seed, the subset of a smaller size lies inside the subset of a larger one)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=gen)[:size].sort().values


def random_subset(data: SplitData, size: int, *, seed: int = 0) -> SplitData:
    """A seeded random subset of ``size`` samples of ``data`` (in their original order), on its device.

    The rule of ``load_dataset(subset=...)``: the first ``size`` entries of one permutation drawn
    with ``seed``, so growing ``size`` only adds samples. ``size == len(data)`` returns all of them.
    """
    if not isinstance(data, SplitData):
        raise TypeError(f"data must be a SplitData (from load_dataset), got {type(data).__name__}")
    check_int("size", size, minimum=1)
    check_int("seed", seed, minimum=0)
    if size > len(data):
        raise ValueError(f"size={size} is larger than the {len(data)} samples of {data.name} {data.split}; "
                         f"allowed: 1 <= size <= {len(data)}")
    keep = _subset_indices(len(data), size, seed).to(data.device)
    return SplitData(x=data.x[keep], y=data.y[keep], name=data.name, split=data.split, classes=data.classes)


def split_validation(data: SplitData, fraction: float, *,
                     seed: int = VALIDATION_SEED) -> tuple[SplitData, SplitData]:
    """Split a training set into ``(train, validation)``, stratified by class, with a fixed seed.

    Of each class c with n_c samples, ``round(fraction * n_c)`` go to validation: those first in one
    permutation of all samples drawn with ``seed`` (by default ``VALIDATION_SEED``, the same for every
    trial, so every condition and seed of a comparison validates on the same samples). Both parts keep
    the samples' original order; the validation part has ``split="val"``. Draw training subsets from
    the returned training part (``random_subset``), so growing the training set never moves a sample
    between training and validation. Never pass the test split here.
    """
    if not isinstance(data, SplitData):
        raise TypeError(f"data must be a SplitData (from load_dataset), got {type(data).__name__}")
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
        raise TypeError(f"fraction must be a real number, a fraction in (0, 1); "
                        f"got {type(fraction).__name__} ({fraction!r})")
    if not 0.0 < float(fraction) < 1.0:
        raise ValueError(f"fraction={fraction}; allowed: a fraction in (0, 1)")
    fraction = float(fraction)
    check_int("seed", seed, minimum=0)
    if data.split == "test":
        raise ValueError(f"data is the test split of {data.name}; a validation set is carved from the training split only")
    labels = data.y.cpu()
    perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    in_val = torch.zeros(len(data), dtype=torch.bool)
    for c in labels.unique().tolist():
        members = perm[labels[perm] == c]  # class c, in permutation order
        in_val[members[: math.floor(fraction * len(members) + 0.5)]] = True
    n_val = int(in_val.sum())
    if n_val == 0 or n_val == len(data):
        raise ValueError(f"fraction={fraction} of the {len(data)} samples of {data.name} {data.split} leaves "
                         f"{n_val} for validation and {len(data) - n_val} for training; both must be non-empty")
    val_idx = in_val.nonzero().flatten().to(data.device)
    train_idx = (~in_val).nonzero().flatten().to(data.device)
    train = SplitData(x=data.x[train_idx], y=data.y[train_idx], name=data.name, split=data.split, classes=data.classes)
    val = SplitData(x=data.x[val_idx], y=data.y[val_idx], name=data.name, split="val", classes=data.classes)
    return train, val


def iterate_batches(
    data: SplitData,
    batch_size: int,
    *,
    shuffle: bool = True,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield ``(x, y)`` mini-batches of ``data`` by indexing its device tensors; one pass = one epoch.

    With ``shuffle`` the order is a permutation drawn from ``generator`` (torch's global generator when
    None; pass a seeded one for reproducible epochs). Without it, batches are contiguous views.
    ``drop_last`` skips a final batch smaller than ``batch_size``.
    """
    if not isinstance(data, SplitData):
        raise TypeError(f"data must be a SplitData (from load_dataset), got {type(data).__name__}")
    check_int("batch_size", batch_size, minimum=1)
    for flag, value in (("shuffle", shuffle), ("drop_last", drop_last)):
        if not isinstance(value, bool):
            raise TypeError(f"{flag} must be True or False, got {type(value).__name__} ({value!r})")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__} ({generator!r})")
    return _batches(data, batch_size, shuffle, generator, drop_last)


def _batches(data: SplitData, batch_size: int, shuffle: bool, generator: torch.Generator | None,
             drop_last: bool) -> Iterator[tuple[Tensor, Tensor]]:
    n = len(data)
    stop = n - n % batch_size if drop_last else n
    if shuffle:
        perm_device = generator.device if generator is not None else torch.device("cpu")
        order = torch.randperm(n, generator=generator, device=perm_device).to(data.device)
        for start in range(0, stop, batch_size):
            idx = order[start:start + batch_size]
            yield data.x[idx], data.y[idx]
    else:
        for start in range(0, stop, batch_size):
            yield data.x[start:start + batch_size], data.y[start:start + batch_size]


# --- digits -------------------------------------------------------------------------------------

def _load_digits(split: str) -> _Raw:
    """scikit-learn's bundled digits (values 0..16) with a fixed, stratified train/test split."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.asarray(bunch.images, dtype=np.uint8)  # [1797, 8, 8], integer values 0..16
    labels = np.asarray(bunch.target, dtype=np.int64)
    rng = np.random.default_rng(DIGITS_SPLIT_SEED)
    test = []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        test.append(members[: int(round(len(members) * DIGITS_TEST_FRACTION))])
    is_test = np.zeros(len(labels), dtype=bool)
    is_test[np.concatenate(test)] = True
    keep = np.flatnonzero(is_test if split == "test" else ~is_test)
    x = torch.from_numpy(images[keep]).unsqueeze(1)
    return _Raw(x=x, y=torch.from_numpy(labels[keep]), classes=DIGIT_CLASSES, scale=16.0)


# --- mnist / fashion-mnist ----------------------------------------------------------------------

def _load_mnist_like(name: str, split: str, root: Path, download: bool) -> _Raw:
    """MNIST-format files from ``<root>/<Folder>/raw`` (gzipped or extracted), cached after the first decode.

    The idx files are decoded here (``_read_idx``), so a damaged file is named in the error;
    torchvision is used only to download missing files.
    """
    folder = MNIST_FOLDERS[name]
    raw_dir = root / folder / "raw"
    classes = DIGIT_CLASSES if name == "mnist" else FASHION_CLASSES
    all_files = MNIST_FILES["train"] + MNIST_FILES["test"]
    extracted = [raw_dir / f for f in all_files]
    gzipped = [raw_dir / f"{f}.gz" for f in all_files]

    if all(p.is_file() for p in extracted):
        sources = extracted
    elif all(p.is_file() for p in gzipped):
        sources = gzipped
    elif download:
        from torchvision import datasets

        tv_class = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
        try:
            tv_class(str(root), train=split == "train", download=True)
        except Exception as err:  # torchvision raises RuntimeError/URLError/OSError for network and disk failures
            raise _mnist_missing(name, raw_dir, all_files, f"download failed: {type(err).__name__}: {err}") from err
        sources = extracted
    else:
        raise _mnist_missing(name, raw_dir, all_files, "download=False")

    key = _cache_key(name, split, raw_dir, [_file_stamp(p) for p in sources])
    cached = _read_cache(key)
    if cached is not None:
        return _Raw(x=cached["x"], y=cached["y"], classes=classes, scale=255.0)

    by_name = {p.name.removesuffix(".gz"): p for p in sources}
    images_file, labels_file = (by_name[f] for f in MNIST_FILES[split])
    images = _read_idx(images_file, ndim=3)
    labels = _read_idx(labels_file, ndim=1)
    if len(images) != len(labels):
        raise CorruptDataError(f"{images_file} holds {len(images)} images but {labels_file} holds {len(labels)} labels; "
                               f"they must match: replace the damaged file with a fresh copy")
    if labels.size and int(labels.max()) >= len(classes):
        raise CorruptDataError(f"{labels_file} holds label {int(labels.max())}; allowed: 0..{len(classes) - 1} "
                               f"(the {len(classes)} classes of {name})")
    x = torch.from_numpy(images).unsqueeze(1).contiguous()
    y = torch.from_numpy(labels).to(torch.int64)
    _write_cache(key, {"x": x, "y": y})
    return _Raw(x=x, y=y, classes=classes, scale=255.0)


def _read_idx(path: Path, *, ndim: int) -> np.ndarray:
    """The uint8 array stored in one idx file (MNIST's format; gzipped when the name ends in ``.gz``).

    A truncated or foreign file raises ``CorruptDataError`` naming it: a ``.gz`` that does not
    decompress, a magic number other than unsigned bytes with ``ndim`` dimensions, or a payload whose
    length is not the one the header announces.
    """
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                blob = f.read()
        else:
            blob = path.read_bytes()
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise CorruptDataError(f"{path} is not a complete gzip file ({type(err).__name__}: {err}); "
                               f"it is truncated or damaged: replace it with a fresh copy") from err
    header = 4 + 4 * ndim
    expected_magic = (0x08 << 8) | ndim  # 0x08: unsigned bytes
    if len(blob) < header:
        raise CorruptDataError(f"{path} is {len(blob)} bytes long, shorter than the {header}-byte header of an idx "
                               f"file with {ndim} dimension(s); it is truncated: replace it with a fresh copy")
    magic = int.from_bytes(blob[:4], "big")
    if magic != expected_magic:
        raise CorruptDataError(f"{path} is not an MNIST idx file of {ndim} dimension(s): its magic number is "
                               f"0x{magic:08x}, expected 0x{expected_magic:08x}")
    dims = struct.unpack(f">{ndim}I", blob[4:header])
    size = math.prod(dims)
    if len(blob) - header != size:
        raise CorruptDataError(f"{path} holds {len(blob) - header} data bytes but its header announces shape {dims} "
                               f"({size} bytes); it is truncated or damaged: replace it with a fresh copy")
    return np.frombuffer(blob, dtype=np.uint8, offset=header).reshape(dims).copy()


def _mnist_missing(name: str, raw_dir: Path, files: tuple[str, ...], why: str) -> DatasetNotFoundError:
    listing = "\n".join(f"  {raw_dir / f}.gz" for f in files)
    return DatasetNotFoundError(
        f"{name} files not found in {raw_dir} ({why}). Place these 4 files there "
        f"(gzipped as shown, or extracted without .gz):\n{listing}\n"
        f"or point the data root elsewhere with root=... or $SNNLAB_DATA (a copy of MNIST is in ../shared/data).")


# --- cifar10 ------------------------------------------------------------------------------------

def _load_cifar10(split: str, root: Path, download: bool, progress: bool) -> _Raw:
    """CIFAR-10 from torchvision's python batches, else from an image-folder export, else downloaded."""
    batches = root / CIFAR_BATCHES_FOLDER
    images = root / CIFAR_IMAGE_FOLDER
    if batches.is_dir():
        from torchvision import datasets

        try:
            ds = datasets.CIFAR10(str(root), train=split == "train", download=False)
        except RuntimeError as err:
            raise DatasetNotFoundError(f"{batches} exists but torchvision could not read it ({err}); "
                                       f"replace it with the extracted cifar-10-python.tar.gz") from err
        return _from_cifar_batches(ds)
    if images.is_dir():
        return _load_image_folder("cifar10", split, images, progress)
    if download:
        from torchvision import datasets

        try:
            ds = datasets.CIFAR10(str(root), train=split == "train", download=True)
        except Exception as err:  # network and disk failures
            raise _cifar_missing(root, f"download failed: {type(err).__name__}: {err}") from err
        return _from_cifar_batches(ds)
    raise _cifar_missing(root, "download=False")


def _from_cifar_batches(ds: Any) -> _Raw:
    x = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2).contiguous()  # [N,32,32,3] -> NCHW
    return _Raw(x=x, y=torch.as_tensor(ds.targets, dtype=torch.int64), classes=tuple(ds.classes), scale=255.0)


def _cifar_missing(root: Path, why: str) -> DatasetNotFoundError:
    return DatasetNotFoundError(
        f"cifar10 not found under {root} ({why}). Provide either\n"
        f"  {root / CIFAR_BATCHES_FOLDER}/  (torchvision: data_batch_1..5, test_batch, batches.meta), or\n"
        f"  {root / CIFAR_IMAGE_FOLDER}/{{train,test}}/<class>/*.jpg|png  (an image-folder export)\n"
        f"or point the data root elsewhere with root=... or $SNNLAB_DATA (an image folder is in ../shared/data).")


def _load_image_folder(name: str, split: str, folder: Path, progress: bool) -> _Raw:
    """``<folder>/<split>/<class>/<image>``: labels from the sorted class folder names; cached as uint8."""
    split_dir = folder / split
    if not split_dir.is_dir():
        raise DatasetNotFoundError(f"{name}: image folder {folder} has no '{split}' subfolder; "
                                   f"expected {split_dir}/<class>/*.jpg|png")
    classes = _class_folders(split_dir)
    if not classes:
        raise DatasetNotFoundError(f"{name}: no class folders under {split_dir}; expected {split_dir}/<class>/*.jpg|png")
    other = folder / ("test" if split == "train" else "train")
    if other.is_dir():
        other_classes = _class_folders(other)
        if other_classes != classes:
            only_here, only_there = sorted(set(classes) - set(other_classes)), sorted(set(other_classes) - set(classes))
            parts = ([f"{only_here} only in {split_dir}"] if only_here else []) + (
                [f"{only_there} only in {other}"] if only_there else [])
            raise CorruptDataError(f"{name}: class folders differ between the splits ({'; '.join(parts)}); labels would "
                                   f"not match across splits: give {split_dir} and {other} the same class folders")
    names: list[str] = []  # "<class>/<file>", in label order
    labels: list[int] = []
    stamps: list[list[object]] = []
    for label, cls in enumerate(classes):
        members = sorted(f for f in os.listdir(split_dir / cls)
                         if not _hidden(f) and f.lower().endswith(IMAGE_SUFFIXES))
        if not members:
            raise CorruptDataError(f"{name}: class folder {split_dir / cls} holds no images ({', '.join(IMAGE_SUFFIXES)}); "
                                   f"every class folder needs at least one")
        names.extend(f"{cls}/{f}" for f in members)
        labels.extend([label] * len(members))
        stamps.append([cls, (split_dir / cls).stat().st_mtime_ns])

    # the key follows the file names and the class folders' mtimes (which change when files are added,
    # removed or renamed); stat-ing every image would cost seconds on a 50k-image folder
    key = _cache_key(name, split, split_dir, [names, stamps])
    cached = _read_cache(key)
    if cached is not None:
        return _Raw(x=cached["x"], y=cached["y"], classes=classes, scale=255.0)
    files = [split_dir / n for n in names]
    x = torch.from_numpy(_decode_images(files, progress=progress, desc=f"decoding {name} {split}"))
    x = x.permute(0, 3, 1, 2).contiguous()
    y = torch.tensor(labels, dtype=torch.int64)
    _write_cache(key, {"x": x, "y": y})
    return _Raw(x=x, y=y, classes=classes, scale=255.0)


def _hidden(name: str) -> bool:
    """Hidden entries (``.ipynb_checkpoints``, ``.DS_Store``, macOS ``._*`` companions) are not data."""
    return name.startswith(".")


def _class_folders(split_dir: Path) -> tuple[str, ...]:
    """The sorted names of the visible sub-folders of ``split_dir``: the classes, label = position."""
    return tuple(sorted(d.name for d in split_dir.iterdir() if d.is_dir() and not _hidden(d.name)))


def _decode_images(files: list[Path], *, progress: bool, desc: str) -> np.ndarray:
    """Decode image files to one uint8 array ``[N, H, W, 3]`` (RGB); every image must share the first one's size."""
    from PIL import Image
    from tqdm.auto import tqdm

    def read(path: Path) -> np.ndarray:
        try:
            with Image.open(path) as im:
                return np.asarray(im.convert("RGB"), dtype=np.uint8)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:  # PIL's ways to fail on a file
            raise CorruptDataError(f"{path} is not a readable image ({type(err).__name__}: {err}); "
                                   f"remove it or replace it with a valid image") from err

    first = read(files[0])
    out = np.empty((len(files), *first.shape), dtype=np.uint8)

    def fill(chunk: range) -> int:
        for i in chunk:
            img = read(files[i])
            if img.shape != first.shape:
                raise ValueError(f"image {files[i]} has shape {img.shape} but {files[0]} has {first.shape}; "
                                 f"all images of a split must share one size")
            out[i] = img
        return len(chunk)

    chunks = [range(s, min(s + 512, len(files))) for s in range(0, len(files), 512)]
    workers = max(1, min(8, os.cpu_count() or 1))
    with tqdm(total=len(files), desc=desc, unit="img", disable=not progress) as bar, \
            ThreadPoolExecutor(max_workers=workers) as pool:
        for done in pool.map(fill, chunks):
            bar.update(done)
    return out


# --- cache --------------------------------------------------------------------------------------

def cache_dir() -> Path:
    """The folder decoded datasets are cached in; never inside a data root (whatever its permissions).

    ``$SNNLAB_CACHE/data`` when ``$SNNLAB_CACHE`` is set (the compiled kernels use
    ``$SNNLAB_CACHE/kernels``), else ``<checkout>/data/.cache`` when snnlab runs from a source
    checkout, else ``$XDG_CACHE_HOME/snnlab/data`` (``~/.cache/snnlab/data``). Delete it to reclaim
    the space (about 55 MB for MNIST, 190 MB for CIFAR-10); the next load decodes again.
    """
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        return Path(env).expanduser() / CACHE_SUBFOLDER
    if _IN_CHECKOUT:
        return _REPO_DATA / ".cache"
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "snnlab" / CACHE_SUBFOLDER


def _file_stamp(path: Path) -> list[object]:
    """What identifies one source file in a cache key: its resolved path, size and modification time."""
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


def _cache_key(name: str, split: str, source: Path, fingerprint: list[object]) -> str:
    """File name of a cache entry: changes with the resolved source folder and with ``fingerprint`` (JSON-able)."""
    blob = json.dumps([CACHE_VERSION, name, split, str(source.resolve()), fingerprint]).encode()
    return f"{name}-{split}-{hashlib.sha256(blob).hexdigest()[:16]}.pt"


def _read_cache(key: str) -> dict[str, Tensor] | None:
    """The cached ``{"x", "y"}`` of ``key``, or None when absent or unreadable (then it is decoded again)."""
    path = cache_dir() / key
    if not path.is_file():
        return None
    try:
        entry = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file: decode again and overwrite it
        warnings.warn(f"ignoring unreadable cache file {path}: {err}", stacklevel=3)
        return None
    if isinstance(entry, dict) and isinstance(entry.get("x"), Tensor) and isinstance(entry.get("y"), Tensor):
        return {"x": entry["x"], "y": entry["y"]}
    return None


def _write_cache(key: str, entry: dict[str, Tensor]) -> None:
    """Write atomically (a temporary file, then a rename) into ``cache_dir()``; warn and carry on when it fails."""
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key}.", dir=folder)
        os.close(fd)
        os.chmod(tmp, 0o644)
        try:
            torch.save(entry, tmp)
            os.replace(tmp, folder / key)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as err:
        warnings.warn(f"could not cache decoded data in {folder} (the next load decodes again; set ${CACHE_ENV} "
                      f"to a writable folder): {err}", stacklevel=3)


def _describe(value: object) -> str:
    if isinstance(value, Tensor):
        return f"Tensor(shape={tuple(value.shape)}, dtype={value.dtype})"
    return f"{type(value).__name__} ({value!r})"
