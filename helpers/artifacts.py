"""Where notebooks read and write their results, and how they write them safely.

Every notebook reads its inputs from ``ARTIFACTS_DIR`` and writes its outputs there. Writes are
atomic: the data goes to a hidden temporary file in the same folder, which is then renamed over
the target. A run killed half-way leaves either the old file or the new one, never half of one;
leftover temporary files are removed the next time the folder is opened.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from helpers.errors import ArtifactsDirError, MissingArtifactError, StaleArtifactError

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ARTIFACTS_DIR = REPO_ROOT / "artifacts"
ARTIFACTS_ENV_VAR = "ARTIFACTS_DIR"
_TEMP_MARKER = ".tmp-"


def _producer(name: str, fallback: str) -> str:
    """The notebook file that writes ``name``, from the chain (for "run X first" messages)."""
    from helpers.chain import producer_of

    step = producer_of(name)
    return step.file if step else fallback


def resolve_artifacts_dir(value: str | os.PathLike | None = None) -> Path:
    """Return the artifacts folder, created and checked writable.

    ``value`` is the notebook's ``ARTIFACTS_DIR`` parameter. ``None`` means the ``ARTIFACTS_DIR``
    environment variable if set, else ``artifacts/`` at the repository root, whatever the working
    directory (JupyterLab, papermill and nbval each start in a different one).
    """
    if value is None:
        value = os.environ.get(ARTIFACTS_ENV_VAR) or DEFAULT_ARTIFACTS_DIR
    if not isinstance(value, (str, os.PathLike)):
        raise ArtifactsDirError(
            f"ARTIFACTS_DIR must be a path (str) or None, got {value!r} "
            f"({type(value).__name__}). Fix it in the parameters cell."
        )
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = REPO_ROOT / path
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=f".write-check{_TEMP_MARKER}"):
            pass
    except OSError as exc:
        raise ArtifactsDirError(
            f"ARTIFACTS_DIR {path} cannot be written ({exc.strerror or exc}). Fix: choose a "
            "folder you can write to (parameter ARTIFACTS_DIR or environment variable "
            "ARTIFACTS_DIR), or fix its permissions."
        ) from exc
    remove_stale_temp_files(path)
    return path


def remove_stale_temp_files(folder: Path) -> list[Path]:
    """Delete temporary files left by an interrupted write; return what was removed."""
    removed = []
    for leftover in folder.rglob(f".*{_TEMP_MARKER}*"):
        with contextlib.suppress(OSError):
            leftover.unlink()
            removed.append(leftover)
    return removed


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` if the block succeeds.

    The temporary name keeps the target's suffix, so libraries that choose a format by extension
    (Keras' ``model.save``, matplotlib's ``savefig``) behave as they would for the real name.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}{_TEMP_MARKER}{os.getpid()}{target.suffix}")
    try:
        yield tmp
        if not tmp.exists():
            raise RuntimeError(f"nothing was written to the temporary file for {target}")
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_bytes(target: str | os.PathLike, data: bytes) -> Path:
    """Atomically write ``data`` to ``target``."""
    with atomic_path(target) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return Path(target)


def write_json(target: str | os.PathLike, payload: Any) -> Path:
    """Atomically write ``payload`` as indented JSON (numpy scalars and arrays allowed)."""
    text = json.dumps(payload, indent=2, default=_json_default, allow_nan=False)
    return write_bytes(target, (text + "\n").encode())


def write_text(target: str | os.PathLike, text: str) -> Path:
    """Atomically write a text file."""
    return write_bytes(target, text.encode())


def save_with(target: str | os.PathLike, save: Callable[[Path], Any]) -> Path:
    """Atomically write ``target`` with a library's own save function, e.g. ``model.save``."""
    with atomic_path(target) as tmp:
        save(tmp)
    return Path(target)


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


PREDICTIONS_DIR = "predictions"


def write_array(target: str | os.PathLike, values) -> Path:
    """Atomically write a NumPy array as ``.npy``."""
    import numpy as np

    with atomic_path(target) as tmp, open(tmp, "wb") as handle:
        np.save(handle, np.asarray(values))
        handle.flush()
        os.fsync(handle.fileno())
    return Path(target)


def save_predictions(
    artifacts_dir: Path, name: str, predictions, *, tied=None, validation=None
) -> str:
    """Atomically store a model's predicted class per test image; return the relative path.

    Paired statistics (McNemar, bootstrap) need every model's per-image predictions, so each
    notebook keeps those of the models it evaluates next to its metrics. Beside them, when given:
    ``<name>.tied.npy``, which test images had a tied top output, and ``<name>.val.npy``, the
    predictions on notebook 02's held-out validation images (for choosing without the test set).
    """
    import numpy as np

    relative = f"{PREDICTIONS_DIR}/{name}.npy"
    values = np.asarray(predictions)
    if values.ndim != 1 or not np.issubdtype(values.dtype, np.integer):
        raise ValueError(
            f"predictions must be a 1-D integer array, got {values.dtype} {values.shape}"
        )
    write_array(Path(artifacts_dir) / relative, values.astype(np.int8))
    if tied is not None:
        write_array(Path(artifacts_dir) / companion(relative, "tied"), np.asarray(tied, bool))
    if validation is not None:
        validation = np.asarray(validation).astype(np.int8)
        write_array(Path(artifacts_dir) / companion(relative, "val"), validation)
    return relative


def companion(relative: str, kind: str) -> str:
    """``predictions/int8.npy`` -> ``predictions/int8.<kind>.npy``."""
    return relative.removesuffix(".npy") + f".{kind}.npy"


def load_array(artifacts_dir: Path, relative: str):
    """Load an ``.npy`` artifact, naming the notebook to re-run when it is missing."""
    import numpy as np

    path = Path(artifacts_dir) / relative
    if not path.is_file():
        producer = _producer(relative, "the notebook that records it")
        raise MissingArtifactError(
            f"{relative} is missing from {artifacts_dir}. Run notebooks/{producer} first "
            "(or `make run-all`), with the same ARTIFACTS_DIR."
        )
    return np.load(path)


def require(artifacts_dir: Path, name: str) -> Path:
    """Return ``artifacts_dir/name``, or stop with the notebook to run if it is missing."""
    require_all(artifacts_dir, [name])
    return Path(artifacts_dir) / name


def require_all(artifacts_dir: Path, names) -> list[Path]:
    """Return ``artifacts_dir/name`` for every name, or stop naming every missing file and the
    notebooks to run, in chain order, before any work starts."""
    from helpers.chain import NOTEBOOKS

    missing = [name for name in names if not (Path(artifacts_dir) / name).is_file()]
    if missing:
        producers = sorted(
            {_producer(name, "the notebook that writes it") for name in missing},
            key=lambda f: NOTEBOOKS.index(f[:-6]) if f[:-6] in NOTEBOOKS else len(NOTEBOOKS),
        )
        verb = "is" if len(missing) == 1 else "are"
        raise MissingArtifactError(
            f"{', '.join(missing)} {verb} missing from {artifacts_dir}. Run "
            + ", then ".join(f"notebooks/{p}" for p in producers)
            + " first (or `make run-all`), with the same ARTIFACTS_DIR."
        )
    return [Path(artifacts_dir) / name for name in names]


def read_json(artifacts_dir: Path, name: str) -> dict:
    """Load a JSON artifact, naming the notebook to re-run if it is missing or unreadable."""
    path = require(artifacts_dir, name)
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        producer = _producer(name, "the notebook that writes it")
        raise MissingArtifactError(
            f"{path} is not valid JSON ({exc}). Re-run notebooks/{producer} to write it again."
        ) from exc


def read_optional_json(artifacts_dir: Path, name: str) -> dict | None:
    """A JSON artifact that may legitimately be absent (e.g. the seed study): None if it is."""
    if not (Path(artifacts_dir) / name).is_file():
        return None
    return read_json(artifacts_dir, name)


def weights_fingerprint(model) -> str:
    """A short, deterministic hash of a Keras model's weights.

    Downstream notebooks record the fingerprint of the baseline they used; the comparison
    refuses to put side by side results that came from different baselines.
    """
    digest = hashlib.sha256()
    for weights in model.get_weights():
        digest.update(str(weights.shape).encode())
        digest.update(weights.tobytes())
    return digest.hexdigest()[:16]


def check_same_baseline(reference: str, fingerprints: dict[str, str | None]) -> None:
    """Refuse to mix results of different baselines.

    ``reference`` is the fingerprint of the baseline model now in ``ARTIFACTS_DIR``;
    ``fingerprints`` maps each artifact name to the fingerprint it recorded. Any mismatch stops
    with the list of notebooks to re-run, in order.
    """
    stale = sorted(name for name, value in fingerprints.items() if value != reference)
    if not stale:
        return
    notebooks = sorted({_producer(name, name) for name in stale})
    details = ", ".join(f"{name} ({fingerprints[name] or 'no fingerprint'})" for name in stale)
    raise StaleArtifactError(
        f"These results were made from a different baseline than the model now in "
        f"ARTIFACTS_DIR (fingerprint {reference}): {details}. Mixing them would compare models "
        f"that were never the same. Fix: re-run {', then '.join(notebooks)} "
        "(or `make run-all`)."
    )
