"""The copy-cost benchmark: one row per length, the ratio of its two timings; a preset without the term is refused."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import copy_cost  # noqa: E402


def test_copy_cost_times_each_length_with_and_without_the_term(tmp_path):
    out = tmp_path / "cost.tsv"
    assert copy_cost.main(["--seconds", "0.6,1.2", "--repeats", "1", "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith("# audiotex copy-term cost") and lines[1].split("\t") == [
        "seconds", "cpu_s_with", "cpu_s_without", "ratio"]
    rows = [[float(v) for v in line.split("\t")] for line in lines[2:]]
    assert [r[0] for r in rows] == [0.6, 1.2]
    for seconds, with_term, without, ratio in rows:
        assert with_term > 0 and without > 0 and ratio == pytest.approx(with_term / without, rel=1e-3)


def test_copy_cost_refuses_a_preset_without_the_term(tmp_path, capsys):
    with pytest.raises(SystemExit):
        copy_cost.main(["--preset", "fast", "--seconds", "1", "--out", str(tmp_path / "x.tsv")])
    assert "has no copy term" in capsys.readouterr().err
