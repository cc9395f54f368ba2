"""Fashion-MNIST: find it, read and verify the original IDX files, preprocess them.

The loader looks for the four original ``.gz`` files in this order and says which it used:

1. the notebook's ``DATA_DIR`` parameter, or the ``FASHION_MNIST_DIR`` environment variable;
2. ``/usr/share/datasets/fashion-mnist`` (Debian's package ``dataset-fashion-mnist``, offline);
3. Keras' cache, ``~/.keras/datasets/fashion-mnist``;
4. Keras' download (needs internet), which fills that cache.

It reads the files itself instead of trusting ``keras.datasets``, so a truncated download or a
wrong file is caught with a message that names the file and the fix.

Run ``python -m helpers.data`` to check that the data is present and intact (``make data`` does,
after installing Debian's offline copy when it can).
"""

from __future__ import annotations

import gzip
import os
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers.errors import DatasetError, ParameterError

CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
NUM_CLASSES = len(CLASS_NAMES)
IMAGE_SHAPE = (28, 28)
INPUT_SHAPE = (28, 28, 1)

DATA_DIR_ENV_VAR = "FASHION_MNIST_DIR"
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
KERAS_CACHE_DIR = Path("~/.keras/datasets/fashion-mnist").expanduser()

IMAGES_MAGIC = 0x00000803  # IDX: unsigned byte data, 3 dimensions
LABELS_MAGIC = 0x00000801  # IDX: unsigned byte data, 1 dimension

# split -> (images file, labels file, expected number of examples)
FILES: dict[str, tuple[str, str, int]] = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 60_000),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 10_000),
}
FILE_NAMES = tuple(name for images, labels, _ in FILES.values() for name in (images, labels))

_FIX = (
    "Fix: delete the damaged file and fetch it again (`make data`; offline: "
    "`apt-get install --reinstall dataset-fashion-mnist`; online: remove "
    f"{KERAS_CACHE_DIR} and let Keras download it), or point DATA_DIR at a good copy."
)


@dataclass(frozen=True)
class FashionMNIST:
    """The raw dataset as stored: uint8 images (N, 28, 28) and uint8 labels (N,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    directory: Path
    source: str  # human-readable: which of the four places the files came from

    def facts(self) -> dict:
        """Small JSON-ready description, recorded by notebook 01 and the summary."""
        return {
            "source": self.source,
            "directory": str(self.directory),
            "train_examples": int(len(self.y_train)),
            "test_examples": int(len(self.y_test)),
            "image_shape": list(self.x_train.shape[1:]),
            "class_names": list(CLASS_NAMES),
            "train_class_counts": np.bincount(self.y_train, minlength=NUM_CLASSES).tolist(),
            "test_class_counts": np.bincount(self.y_test, minlength=NUM_CLASSES).tolist(),
            "train_pixel_mean": float(self.x_train.mean()),
            "train_pixel_std": float(self.x_train.std()),
            "test_pixel_mean": float(self.x_test.mean()),
            "test_pixel_std": float(self.x_test.std()),
            "train_zero_share": float(np.mean(self.x_train == 0)),
        }


# --------------------------------------------------------------------------- finding the files


def missing_files(directory: Path) -> list[str]:
    """Names of the four dataset files that are not in ``directory``."""
    return [name for name in FILE_NAMES if not (directory / name).is_file()]


def find_data_dir(data_dir: str | os.PathLike | None = None, *, download: bool = True):
    """Return ``(directory, source description)`` of a complete copy of the dataset.

    An explicit ``data_dir`` (or ``FASHION_MNIST_DIR``) must exist and hold all four files: a
    mistyped path is an error, never a silent fall-back to another copy.
    """
    explicit, origin = data_dir, "DATA_DIR parameter"
    if explicit is None and os.environ.get(DATA_DIR_ENV_VAR):
        explicit, origin = os.environ[DATA_DIR_ENV_VAR], f"{DATA_DIR_ENV_VAR} environment variable"
    if explicit is not None:
        directory = Path(explicit).expanduser().resolve()
        if not directory.is_dir():
            raise DatasetError(
                f"The data folder {directory} (from the {origin}) does not exist. Fix: point it "
                "at the folder holding the four Fashion-MNIST .gz files, or set it to None to "
                "let the loader find them."
            )
        absent = missing_files(directory)
        if absent:
            raise DatasetError(
                f"The data folder {directory} (from the {origin}) lacks {', '.join(absent)}. "
                "Fix: copy the missing files there, or set it to None to let the loader find "
                "the dataset."
            )
        return directory, f"{origin}: {directory}"
    if not missing_files(SYSTEM_DIR):
        return SYSTEM_DIR, f"Debian package dataset-fashion-mnist: {SYSTEM_DIR}"
    if not missing_files(KERAS_CACHE_DIR):
        return KERAS_CACHE_DIR, f"Keras cache: {KERAS_CACHE_DIR}"
    if not download:
        raise DatasetError(
            "Fashion-MNIST was not found (looked in DATA_DIR, $FASHION_MNIST_DIR, "
            f"{SYSTEM_DIR}, {KERAS_CACHE_DIR}). Fix: run `make data`."
        )
    return _download_with_keras(), f"Keras download, cached in {KERAS_CACHE_DIR}"


def _download_with_keras() -> Path:
    import tf_keras  # package __init__ has set TF_USE_LEGACY_KERAS

    print(f"Fashion-MNIST not found locally; downloading it with Keras into {KERAS_CACHE_DIR} ...")
    try:
        tf_keras.datasets.fashion_mnist.load_data()
    except Exception as exc:  # network errors come in many types
        raise DatasetError(
            f"Fashion-MNIST is not on this machine and Keras could not download it ({exc}). "
            "Fix: connect to the internet, or install the offline copy with "
            "`apt-get install dataset-fashion-mnist` (as root), or set DATA_DIR to a folder "
            "holding the four .gz files."
        ) from exc
    absent = missing_files(KERAS_CACHE_DIR)
    if absent:
        raise DatasetError(
            f"Keras reported a download but {', '.join(absent)} is not in {KERAS_CACHE_DIR}. "
            "Fix: set DATA_DIR to a folder holding the four .gz files."
        )
    return KERAS_CACHE_DIR


# --------------------------------------------------------------------------- reading IDX files


def _read_gzip(path: Path) -> bytes:
    if not path.is_file():
        raise DatasetError(f"{path} is missing. {_FIX}")
    try:
        with gzip.open(path, "rb") as handle:
            return handle.read()
    except gzip.BadGzipFile as exc:
        raise DatasetError(f"{path} is not a gzip file ({exc}). {_FIX}") from exc
    except (EOFError, zlib.error) as exc:
        raise DatasetError(
            f"{path} is truncated or corrupt: its compressed data ends early ({exc}). {_FIX}"
        ) from exc
    except OSError as exc:
        raise DatasetError(f"{path} cannot be read ({exc}). {_FIX}") from exc


def read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """Read one IDX ``.gz`` file into a uint8 array, checking its header against its size."""
    path = Path(path)
    raw = _read_gzip(path)
    ndim = {IMAGES_MAGIC: 3, LABELS_MAGIC: 1}[expected_magic]
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise DatasetError(
            f"{path} is too short to be an IDX file ({len(raw)} bytes after decompression). {_FIX}"
        )
    (magic,) = struct.unpack(">i", raw[:4])
    if magic != expected_magic:
        kind = "images" if expected_magic == IMAGES_MAGIC else "labels"
        raise DatasetError(
            f"{path} has magic number {magic:#010x}, expected {expected_magic:#010x} for an IDX "
            f"{kind} file: it is not the file its name says. {_FIX}"
        )
    shape = struct.unpack(f">{ndim}i", raw[4:header_size])
    expected_bytes = int(np.prod(shape))
    payload = len(raw) - header_size
    if payload != expected_bytes:
        raise DatasetError(
            f"{path} declares shape {shape} ({expected_bytes} bytes) but holds {payload} bytes "
            f"of data: it is truncated or padded. {_FIX}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)


def load_split(directory: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read and verify one split's images and labels."""
    images_name, labels_name, expected_count = FILES[split]
    images = read_idx(directory / images_name, IMAGES_MAGIC)
    labels = read_idx(directory / labels_name, LABELS_MAGIC)
    if images.shape != (expected_count, *IMAGE_SHAPE):
        raise DatasetError(
            f"{directory / images_name} holds images of shape {images.shape}, expected "
            f"({expected_count}, 28, 28) for the Fashion-MNIST {split} split. {_FIX}"
        )
    if len(labels) != len(images):
        raise DatasetError(
            f"{directory / labels_name} holds {len(labels)} labels but {images_name} holds "
            f"{len(images)} images: the two files do not belong together. {_FIX}"
        )
    if labels.max(initial=0) >= NUM_CLASSES:
        bad = int(np.count_nonzero(labels >= NUM_CLASSES))
        raise DatasetError(
            f"{directory / labels_name} has {bad} labels outside 0-9 (largest "
            f"{int(labels.max())}). {_FIX}"
        )
    return images, labels


def load_fashion_mnist(data_dir: str | os.PathLike | None = None) -> FashionMNIST:
    """Find, read and verify Fashion-MNIST; print which source was used."""
    directory, source = find_data_dir(data_dir)
    x_train, y_train = load_split(directory, "train")
    x_test, y_test = load_split(directory, "test")
    print(f"Fashion-MNIST loaded from {source}")
    return FashionMNIST(x_train, y_train, x_test, y_test, directory, source)


# --------------------------------------------------------------------------- preprocessing


def preprocess(images: np.ndarray) -> np.ndarray:
    """The one preprocessing every notebook uses: float32 in [0, 1], shape (N, 28, 28, 1).

    Training, evaluation and the quantization calibration data all go through this function, so
    the converter calibrates on exactly what the model was trained on.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"preprocess expects raw uint8 images, got dtype {images.dtype}")
    if images.ndim == 2:
        images = images[None]
    if images.shape[1:] not in (IMAGE_SHAPE, INPUT_SHAPE):
        raise ValueError(f"preprocess expects images of shape (N, 28, 28), got {images.shape}")
    return (images.astype(np.float32) / 255.0).reshape(-1, *INPUT_SHAPE)


# --------------------------------------------------------------------------- model-ready arrays


@dataclass(frozen=True)
class Preprocessed:
    """Model-ready arrays (float32, (N, 28, 28, 1)) plus the raw dataset they came from.

    ``x_val``/``y_val`` are notebook 02's held-out validation images (the end of the training
    images it loaded): never trained on, so later notebooks choose on them and keep the test set
    for the final score. They are also inside ``x_train`` (which is every training image
    loaded); ``holdout`` says where, and :meth:`fit_images` gives the training images without
    them.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    raw: FashionMNIST
    holdout: tuple[int, int]  # [start, stop) of the validation images within x_train

    @property
    def x_val(self) -> np.ndarray:
        return self.x_train[slice(*self.holdout)]

    @property
    def y_val(self) -> np.ndarray:
        return self.y_train[slice(*self.holdout)]

    def fit_images(self) -> tuple[np.ndarray, np.ndarray]:
        """The training images before the held-out ones: what fine-tuning may learn from."""
        start = self.holdout[0]
        return self.x_train[:start], self.y_train[:start]


def holdout_range(examples: int, validation_split: float) -> tuple[int, int]:
    """[start, stop) of the images ``tf_keras`` holds out for ``validation_split``.

    Keras trains on the first ``int(examples * (1 - validation_split))`` images and validates on
    the rest (``train_validation_split`` in tf_keras' ``engine/data_adapter.py``). Computing the
    held-out count as ``int(examples * validation_split)`` instead is off by one for some values.
    """
    return int(examples * (1.0 - validation_split)), examples


def load_preprocessed(
    data_dir=None,
    train_limit: int | None = None,
    holdout: tuple[int, int] | None = None,
    *,
    validation_split: float | None = None,
) -> Preprocessed:
    """Load, verify and preprocess; ``train_limit`` keeps the first N training images;
    ``holdout`` marks notebook 02's validation images among them (none by default), or
    ``validation_split`` marks them as Keras' ``validation_split`` would.

    The test set is always complete: every accuracy in the tutorial is on all 10,000 images.
    """
    raw = load_fashion_mnist(data_dir)
    x_train, y_train = raw.x_train, raw.y_train
    if train_limit is not None:
        if train_limit > len(y_train):
            raise ParameterError(
                f"Parameter TRAIN_LIMIT is {train_limit}, larger than the {len(y_train)} training "
                "images. Fix: use None (all) or a smaller number."
            )
        x_train, y_train = x_train[:train_limit], y_train[:train_limit]
    if validation_split is not None:
        holdout = holdout_range(len(y_train), validation_split)
    start, stop = holdout if holdout is not None else (len(y_train), len(y_train))
    start, stop = min(start, len(y_train)), min(stop, len(y_train))
    return Preprocessed(
        preprocess(x_train),
        y_train.astype(np.int64),
        preprocess(raw.x_test),
        raw.y_test.astype(np.int64),
        raw,
        (int(start), int(stop)),
    )


def main() -> int:
    """``python -m helpers.data``: find the dataset (downloading it with Keras as a last resort)
    and verify all four files."""
    try:
        directory, source = find_data_dir()
        for split in FILES:
            load_split(directory, split)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Fashion-MNIST present and verified ({source}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
