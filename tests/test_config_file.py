"""config.yaml's commented keys are generated from audiotex.params and show what `preset: default` uses."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from audiotex import params as P
from audiotex.errors import AudiotexError
from audiotex.manifest import CONFIG_COMMENTS_BEGIN, CONFIG_COMMENTS_END, config_comments, write_config_comments

CONFIG = Path(__file__).parents[1] / "config.yaml"


def _uncommented(block: str) -> dict:
    """The mapping a user gets by uncommenting every key line (``# key: value  # help``) of a block."""
    lines = [m.group(1) for m in re.finditer(r"^# ([a-z_]+: .*?)(?:\s{2,}#.*)?$", block, re.M)]
    return yaml.safe_load("\n".join(lines))


def test_config_yaml_commented_keys_are_up_to_date():
    text = CONFIG.read_text()
    assert config_comments() in text, ("config.yaml's commented keys are stale: run `make schemas` "
                                       "(python -m audiotex.manifest --write-config-comments config.yaml)")
    assert yaml.safe_load(text) == {"manifest": "manifest.tsv", "preset": "default"}  # the block is all comments


@pytest.mark.parametrize("preset", sorted(P.PRESETS))
def test_uncommenting_the_block_gives_exactly_what_the_preset_resolves_to(preset):
    values = _uncommented(config_comments(preset))
    resolved = P.resolve({"preset": preset})
    assert values == {k: v for k, v in resolved.items() if k != "preset"}  # every key, each value as resolved
    assert P.validate(values) == values


def test_default_block_shows_the_default_preset_not_the_seed():
    values = _uncommented(config_comments())
    assert (values["n_fft"], values["hop_length"], values["refine_iterations"]) == (512, 128, 350)
    assert values["layers"] == P.PRESETS["default"]["layers"]


def test_write_config_comments_replaces_only_the_block(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(f"manifest: m.tsv\npreset: default\n\n{CONFIG_COMMENTS_BEGIN}\n# n_fft: 2048\n"
                      f"{CONFIG_COMMENTS_END}\n# kept: after the block\n")
    assert write_config_comments(config) is True
    text = config.read_text()
    assert text.startswith("manifest: m.tsv\npreset: default\n\n" + config_comments())
    assert text.endswith(f"{CONFIG_COMMENTS_END}\n# kept: after the block\n") and "# n_fft: 2048" not in text
    assert write_config_comments(config) is False  # already up to date: not rewritten

    config.write_text("manifest: m.tsv\n# n_fft: 2048\n")
    with pytest.raises(AudiotexError, match=r"config\.yaml: expected one generated block"):
        write_config_comments(config)
    assert config.read_text() == "manifest: m.tsv\n# n_fft: 2048\n"
