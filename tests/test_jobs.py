"""The shared job wrapper of the workflow scripts: logs, timings, one-line user errors."""
import pytest

from audiotex.errors import AudiotexError
from audiotex.jobs import run_job, single_path


def test_success_logs_what_summary_and_time(tmp_path):
    log = tmp_path / "job.log"
    assert run_job(log, "decode x.wav", lambda fh: "42 frames") == 0
    text = log.read_text()
    assert "decode x.wav" in text and "42 frames" in text and "done in" in text


def test_user_error_is_one_line_and_status_1(tmp_path, capsys):
    def fail(fh):
        raise AudiotexError("x.wav: cannot decode audio")

    assert run_job(tmp_path / "job.log", "decode x.wav", fail) == 1
    assert capsys.readouterr().err.strip() == "error: x.wav: cannot decode audio"
    assert "error: x.wav: cannot decode audio" in (tmp_path / "job.log").read_text()


def test_bug_keeps_its_traceback_and_propagates(tmp_path):
    def bug(fh):
        raise ZeroDivisionError("oops")

    with pytest.raises(ZeroDivisionError):
        run_job(tmp_path / "job.log", "bug", bug)
    assert "Traceback" in (tmp_path / "job.log").read_text()


def test_single_path():
    assert single_path([]) is None and single_path("a.npy") == "a.npy" and single_path(["b.npy"]) == "b.npy"
