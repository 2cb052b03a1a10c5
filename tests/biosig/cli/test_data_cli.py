"""The ``biosig data`` command, called in-process through ``main(argv)`` and once as a real console script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from biosig.cli.main import main
from biosig.datasets.catalog import bundled_myo_session
from biosig.io import read


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_console_script_runs_as_a_process() -> None:
    biosig = Path(sys.executable).with_name("biosig")
    command = [str(biosig)] if biosig.exists() else [sys.executable, "-m", "biosig.cli.main"]
    done = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    assert done.stdout.strip().startswith("biosig 0.")


def test_inspect_bundled_myo_session(capsys) -> None:
    code, out, _ = run(capsys, "data", "inspect", str(bundled_myo_session()))
    assert code == 0
    assert out.count("[myo]") == 8
    assert "8 ch (8 emg) @ 200 Hz" in out
    assert "8 recording(s) from 1 path(s)" in out
    assert f"{bundled_myo_session() / '7.txt.gz'}  [myo]" in out


def test_inspect_json_lines(capsys) -> None:
    code, out, _ = run(capsys, "data", "inspect", "--json", str(bundled_myo_session() / "7.txt.gz"))
    assert code == 0
    summary = json.loads(out)
    assert summary["format"] == "myo" and summary["n_channels"] == 8 and summary["sfreq"] == 200.0
    assert set(summary["labels"]) == {"rest", "fist"}
    assert summary["duration_s"] == pytest.approx(summary["n_times"] / 200.0, abs=1e-3)


def test_inspect_missing_path_is_a_clear_error(capsys, tmp_path: Path) -> None:
    code, _, err = run(capsys, "data", "inspect", str(tmp_path / "absent.edf"))
    assert code == 1
    assert "absent.edf: no such file or directory" in err


def test_inspect_reports_unreadable_file_and_fails(capsys, tmp_path: Path) -> None:
    bad = tmp_path / "broken.edf"
    bad.write_bytes(b"0       this is not an EDF header")
    code, _, err = run(capsys, "data", "inspect", "--format", "edf", str(bad))
    assert code == 1
    assert "broken.edf" in err


def test_list_counts_shared_datasets(capsys, shared_data: Path) -> None:
    code, out, _ = run(capsys, "data", "list", "--data-dir", str(shared_data))
    assert code == 0
    rows = {
        line.split()[0]: line.split()[1] for line in out.splitlines()[2:] if line and not line.startswith("bundled")
    }
    assert rows["myo"] == "688" and rows["eegmat"] == "4" and rows["physionet-wfdb"] == "5"
    assert rows["emg2pose"] == "0"


@pytest.mark.slow
def test_inspect_every_shared_file_type(capsys, shared_data: Path) -> None:
    paths = [
        shared_data / "physionet-wfdb-samples",
        shared_data / "physionet-eegmat",
        shared_data / "neurokit-data",
        shared_data / "scipy-ecg",
    ]
    code, out, err = run(capsys, "data", "inspect", *map(str, paths))
    assert code == 0, err
    assert "[wfdb]" in out and "[edf]" in out and "[neurokit]" in out and "[scipy-ecg]" in out
    assert "2 ch (2 ecg) @ 360 Hz, 650000 samples = 1805.56 s" in out  # MIT-BIH 100
    assert "21 ch (20 eeg, 1 ecg) @ 500 Hz, 91000 samples = 182.00 s" in out  # eegmat rest
    assert "1 ch (1 ecg) @ 360 Hz, 108000 samples = 300.00 s" in out  # scipy ecg


def test_convert_myo_to_npz_round_trips(capsys, tmp_path: Path) -> None:
    src = bundled_myo_session() / "1.txt.gz"
    code, out, _ = run(capsys, "data", "convert", str(src), str(tmp_path / "one.npz"))
    assert code == 0 and "wrote" in out
    (original,) = read(src)
    (converted,) = read(tmp_path / "one.npz")
    np.testing.assert_array_equal(converted.data, original.data)
    np.testing.assert_array_equal(converted.labels, original.labels)


def test_convert_to_unknown_suffix_asks_for_to(capsys, tmp_path: Path) -> None:
    src = bundled_myo_session() / "1.txt.gz"
    code, _, err = run(capsys, "data", "convert", str(src), str(tmp_path / "one.xyz"))
    assert code == 1
    assert "cannot tell the output format from 'one.xyz'; give --to with one of ['csv', 'edf', 'npz']" in err


def test_convert_refuses_to_overwrite(capsys, tmp_path: Path) -> None:
    src = bundled_myo_session() / "1.txt.gz"
    out_path = tmp_path / "one.csv"
    assert run(capsys, "data", "convert", str(src), str(out_path))[0] == 0
    code, _, err = run(capsys, "data", "convert", str(src), str(out_path))
    assert code == 1 and "exists; pass overwrite=True (or --overwrite)" in err


def test_download_offline_fails_with_message(capsys, tmp_path: Path, monkeypatch) -> None:
    import urllib.error

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr("urllib.request.urlopen", refuse)
    code, _, err = run(capsys, "data", "download", "neurokit", "--data-dir", str(tmp_path))
    assert code == 1
    assert "could not download https://raw.githubusercontent.com/neuropsychology/NeuroKit" in err
    assert "If this machine is offline" in err


def test_unknown_subcommand_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["data", "frobnicate"])
    assert exc.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_inspect_myo_copy_with_crlf_and_comma_space(capsys, tmp_path: Path) -> None:
    session = tmp_path / "99999-1"
    session.mkdir()
    shutil.copy(bundled_myo_session() / "2.txt.gz", session / "2.txt.gz")
    (session / "3.txt").write_bytes(b"1, 2, 3, 4, 5, 6, 7, 8, 3\r\n1,2,3\r\n-1, -2, -3, -4, -5, -6, -7, -8, 0\r\n")
    code, out, _ = run(capsys, "data", "inspect", str(session / "3.txt"))
    assert code == 0
    assert "2 samples" in out and "skipped rows" in out
