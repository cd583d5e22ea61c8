"""Atomic output: a failed block leaves nothing; a finished file has ordinary permissions."""
import os
import stat

import pytest

from audiotex.errors import AudiotexError
from audiotex.files import atomic_output, check_output_path


def test_success_renames_with_umask_mode(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_output(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".txt"
        tmp.write_text("done")
    assert target.read_text() == "done"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]


def test_failure_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_check_output_path_accepts_new_folders_and_creates_nothing(tmp_path):
    target = tmp_path / "a" / "b" / "out.wav"
    assert check_output_path(target) == target
    assert list(tmp_path.iterdir()) == []  # the probe is gone and no folder was made yet


@pytest.mark.parametrize("make,name,fragment", [
    (lambda p: (p / "out.wav").mkdir(), "out.wav", "is a folder"),
    (lambda p: (p / "f").write_text("x"), "f/out.wav", "which is a file"),
])
def test_check_output_path_names_the_path_at_fault(tmp_path, make, name, fragment):
    make(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(AudiotexError, match=fragment) as err:
        check_output_path(tmp_path / name)
    assert str(tmp_path / name) in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_check_output_path_refuses_a_folder_it_cannot_write_in(tmp_path, monkeypatch):
    import tempfile

    def refuse(*args, **kwargs):  # what a read-only folder answers (root would write anyway, so fake it)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    with pytest.raises(AudiotexError, match=r"out.wav: cannot write in .* \(Permission denied\)"):
        check_output_path(tmp_path / "sub" / "out.wav")
