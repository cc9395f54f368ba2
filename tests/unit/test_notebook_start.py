"""helpers.start on notebook 01 (no inputs needed): what it resolves and exports."""

from __future__ import annotations

import os

import helpers


def test_start_exports_the_resolved_artifacts_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTIFACTS_DIR", "restored after the test")  # records the old value
    monkeypatch.delenv("ARTIFACTS_DIR")
    namespace = {"DATA_DIR": None, "ARTIFACTS_DIR": str(tmp_path / "here"), "SEED": 42}
    run = helpers.start("01_data", namespace)
    # what the standalone recipes of 03 and 04 read, like a script would
    assert os.environ["ARTIFACTS_DIR"] == str(run.artifacts_dir) == str(tmp_path / "here")
