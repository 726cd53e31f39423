"""A data file that is missing, a folder or empty is named by its config key, before any
reading; a config path that is a folder says so."""

from __future__ import annotations

import pytest
from conftest import relpath


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.test=nope.csv", "data.test: {tmp}/nope.csv: no such file"),
        ("data.validation=nope.csv", "data.validation: {tmp}/nope.csv: no such file"),
        ("data.validation=sub", "data.validation: {tmp}/sub: is a directory, not a CSV file"),
        ("data.train=nope.csv", "data.train: {tmp}/nope.csv: no such file"),
        ('data.train=""', "data.train: an empty path; give a CSV file"),
    ],
)
def test_a_data_path_that_is_no_file_names_its_key(tmp_path, datasets, run_cli, override, message):
    (tmp_path / "sub").mkdir()
    iris = relpath(datasets / "iris", tmp_path)
    (tmp_path / "c.yaml").write_text(
        f"data: {{train: {iris}/train.csv, test: {iris}/test.csv, target: species}}\n"
    )
    proc = run_cli("train", "c.yaml", "--set", override, "--run-dir", "run", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [f"error: {message.format(tmp=tmp_path)}"]
    assert not (tmp_path / "run").exists()


def test_a_config_path_that_is_a_folder_says_so(tmp_path, run_cli):
    proc = run_cli("validate", tmp_path, cwd=tmp_path)
    assert proc.returncode == 1
    message = f"error: {tmp_path}: is a directory, not a YAML file"
    assert proc.stderr.strip().splitlines() == [message]
