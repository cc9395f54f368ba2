"""Finding, reading and verifying Fashion-MNIST, on the real files and damaged copies of them."""

from __future__ import annotations

import gzip
import shutil
import socket

import numpy as np
import pytest

from helpers import data
from helpers.errors import DatasetError

TEST_IMAGES, TEST_LABELS, _ = data.FILES["test"]


def test_real_files_load_with_expected_shapes(real_data_dir):
    loaded = data.load_fashion_mnist(real_data_dir)
    assert loaded.x_train.shape == (60_000, 28, 28)
    assert loaded.x_test.shape == (10_000, 28, 28)
    assert loaded.y_train.shape == (60_000,) and loaded.y_test.shape == (10_000,)
    assert loaded.x_train.dtype == np.uint8
    assert set(np.unique(loaded.y_train)) == set(range(10))
    assert np.bincount(loaded.y_test).tolist() == [1000] * 10
    assert "DATA_DIR parameter" in loaded.source


def test_environment_variable_is_used_and_named(data_copy, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_ENV_VAR, str(data_copy))
    directory, source = data.find_data_dir()
    assert directory == data_copy.resolve()
    assert data.DATA_DIR_ENV_VAR in source


def test_parameter_wins_over_environment_variable(data_copy, tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_ENV_VAR, str(tmp_path / "elsewhere"))
    directory, source = data.find_data_dir(data_copy)
    assert directory == data_copy.resolve() and "DATA_DIR parameter" in source


def test_missing_data_dir_is_an_error_not_a_fallback(tmp_path):
    with pytest.raises(DatasetError, match="does not exist") as info:
        data.find_data_dir(tmp_path / "no-such-folder")
    assert "no-such-folder" in str(info.value)


def test_folder_missing_a_file_names_it(data_copy):
    (data_copy / TEST_LABELS).unlink()
    with pytest.raises(DatasetError, match=TEST_LABELS):
        data.find_data_dir(data_copy)


def test_truncated_file_is_reported(data_copy):
    path = data_copy / TEST_IMAGES
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    with pytest.raises(DatasetError, match="truncated") as info:
        data.load_split(data_copy, "test")
    assert TEST_IMAGES in str(info.value) and "Fix:" in str(info.value)


def test_non_gzip_file_is_reported(data_copy):
    (data_copy / TEST_LABELS).write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(DatasetError, match="not a gzip file") as info:
        data.load_split(data_copy, "test")
    assert TEST_LABELS in str(info.value)


def test_wrong_magic_is_reported(data_copy):
    # A labels file under an images name: valid gzip, wrong IDX magic number.
    (data_copy / TEST_IMAGES).write_bytes((data_copy / TEST_LABELS).read_bytes())
    with pytest.raises(DatasetError, match="magic number 0x00000801") as info:
        data.load_split(data_copy, "test")
    assert TEST_IMAGES in str(info.value) and "expected 0x00000803" in str(info.value)


def test_header_that_overstates_the_data_is_reported(data_copy):
    # Valid gzip stream whose decompressed payload is shorter than its header claims.
    raw = gzip.decompress((data_copy / TEST_LABELS).read_bytes())
    (data_copy / TEST_LABELS).write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(DatasetError, match="holds 9900 bytes"):
        data.load_split(data_copy, "test")


def test_mismatched_image_and_label_counts_are_reported(data_copy):
    raw = gzip.decompress((data_copy / TEST_LABELS).read_bytes())
    header = raw[:4] + (9_999).to_bytes(4, "big")
    (data_copy / TEST_LABELS).write_bytes(gzip.compress(header + raw[8:-1]))
    with pytest.raises(DatasetError, match="9999 labels but .* 10000 images"):
        data.load_split(data_copy, "test")


def test_wrong_image_count_is_reported(data_copy):
    # The training images under the test name: 60000 images where 10000 belong.
    train_images = data.FILES["train"][0]
    (data_copy / TEST_IMAGES).write_bytes((data_copy / train_images).read_bytes())
    with pytest.raises(DatasetError, match=r"shape \(60000, 28, 28\).*expected \(10000, 28, 28\)"):
        data.load_split(data_copy, "test")


def test_labels_out_of_range_are_reported(data_copy):
    raw = bytearray(gzip.decompress((data_copy / TEST_LABELS).read_bytes()))
    raw[8] = 12
    (data_copy / TEST_LABELS).write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DatasetError, match="outside 0-9"):
        data.load_split(data_copy, "test")


def test_no_network_when_data_is_local(real_data_dir, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the data loader tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.delenv(data.DATA_DIR_ENV_VAR, raising=False)
    loaded = data.load_fashion_mnist(None)
    assert len(loaded.y_test) == 10_000


def test_preprocess_scales_and_adds_channel_axis():
    images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8).repeat(14, 1).repeat(14, 2)
    out = data.preprocess(images)
    assert out.shape == (1, 28, 28, 1) and out.dtype == np.float32
    assert out.min() == 0.0 and out.max() == 1.0
    assert np.isclose(out[0, 14, 0, 0], 0.2)


def test_preprocess_refuses_already_scaled_images():
    with pytest.raises(TypeError, match="uint8"):
        data.preprocess(np.zeros((2, 28, 28), dtype=np.float32))


def test_facts_are_json_ready(real_data_dir):
    import json

    facts = data.load_fashion_mnist(real_data_dir).facts()
    assert json.loads(json.dumps(facts))["test_class_counts"] == [1000] * 10
    assert len(facts["class_names"]) == 10


@pytest.fixture
def no_local_copies(tmp_path, monkeypatch):
    """Pretend neither Debian's copy nor Keras' cache exists (the cache lives in tmp_path)."""
    monkeypatch.delenv(data.DATA_DIR_ENV_VAR, raising=False)
    monkeypatch.setattr(data, "SYSTEM_DIR", tmp_path / "system")
    monkeypatch.setattr(data, "KERAS_CACHE_DIR", tmp_path / "keras-cache")
    return tmp_path


def test_keras_cache_is_used_after_the_system_copy(no_local_copies, real_data_dir):
    shutil.copytree(real_data_dir, data.KERAS_CACHE_DIR)
    directory, source = data.find_data_dir()
    assert directory == data.KERAS_CACHE_DIR and source.startswith("Keras cache")


def test_download_is_the_last_resort(no_local_copies, real_data_dir, monkeypatch):
    import tf_keras

    def fake_download():  # what Keras does: fill the cache folder
        shutil.copytree(real_data_dir, data.KERAS_CACHE_DIR)

    monkeypatch.setattr(tf_keras.datasets.fashion_mnist, "load_data", fake_download)
    directory, source = data.find_data_dir()
    assert directory == data.KERAS_CACHE_DIR and source.startswith("Keras download")
    with pytest.raises(DatasetError, match="not found"):
        shutil.rmtree(data.KERAS_CACHE_DIR)
        data.find_data_dir(download=False)


def test_failed_download_explains_the_offline_options(no_local_copies, monkeypatch):
    import tf_keras

    def offline():
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(tf_keras.datasets.fashion_mnist, "load_data", offline)
    with pytest.raises(DatasetError, match="could not download") as info:
        data.find_data_dir()
    assert "apt-get install dataset-fashion-mnist" in str(info.value)
