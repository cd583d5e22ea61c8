"""The parameter vocabulary: coercion, ranges, resolution order, stage splitting, schemas."""
import jsonschema
import pytest

from audiotex import params as P
from audiotex.errors import AudiotexError


def test_coerce_parses_strings_from_cli_and_tsv():
    assert P.coerce("iterations", "300") == 300
    assert P.coerce("iterations", "1e3") == 1000
    assert P.coerce("init_scale", "1e-3") == pytest.approx(1e-3)
    assert P.coerce("loop", "yes") is True and P.coerce("loop", "0") is False
    assert P.coerce("duration", "") is None
    assert P.coerce("layers", "11x4096, 3x64/2") == "11x4096, 3x64/2"


@pytest.mark.parametrize("key,value,fragment", [
    ("iterations", "0", "out of range"),
    ("iterations", "2.5", "not a valid int"),
    ("momentum", "1.5", "out of range"),
    ("optimizer", "sgd", "not one of"),
    ("layers", "11by4096", "not of the form"),
    ("sr", "", "needs a value"),
    ("duration", "0", "must be > 0"),
    ("loop", "maybe", "not a valid bool"),
])
def test_bad_values_name_the_key_and_source(key, value, fragment):
    with pytest.raises(AudiotexError) as err:
        P.coerce(key, value, source="row 'x'")
    message = str(err.value)
    assert f"'{key}'" in message and "row 'x'" in message and fragment in message


def test_unknown_key_is_an_error_naming_it():
    with pytest.raises(AudiotexError, match="unknown key 'iteration'"):
        P.validate({"iteration": 3}, source="config.yaml")


def test_resolution_order_defaults_preset_then_layers():
    assert P.resolve({})["iterations"] == P.PRESETS["default"].get("iterations", P.PARAMS["iterations"].default)
    assert P.resolve({})["gram_norm"] == P.PARAMS["gram_norm"].default  # a key no preset sets
    fast = P.resolve({"preset": "fast"})
    assert fast["layers"] == P.PRESETS["fast"]["layers"]
    # a later layer overrides the preset, and the last preset named wins
    assert P.resolve({"preset": "fast"}, {"iterations": 7})["iterations"] == 7
    assert P.resolve({"preset": "fast"}, {"preset": "ulyanov"})["layers"] == "11x4096"


def test_ulyanov_preset_is_the_seed():
    u = P.resolve({"preset": "ulyanov"})
    assert (u["sr"], u["n_fft"], u["layers"], u["optimizer"], u["iterations"]) == (22050, 2048, "11x4096", "lbfgs", 300)
    assert (u["init_scale"], u["gram_norm"], u["content_weight"], u["n_iter"], u["momentum"]) == (1e-3, "frames", 1e-2, 500, 0.0)


def test_stage_settings_split_by_stage():
    s = P.resolve({})
    inv = P.stage_settings(s, "invert")
    assert "n_iter" in inv and "iterations" not in inv and "device" not in inv
    syn = P.stage_settings(s, "synthesize")
    assert "iterations" in syn and "n_iter" not in syn and "seed" in syn
    assert "device" not in syn  # runtime keys never trigger reruns


def test_every_preset_value_is_valid():
    for name in P.PRESETS:
        for kind in P.KINDS:
            P.validate(P.preset_values(name, kind), source=f"preset {name} ({kind})")


def test_schemas_accept_defaults_and_reject_bad_values():
    config = {"manifest": "m.tsv", **{k: v for k, v in P.resolve({}).items()}}
    jsonschema.validate(config, P.config_schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**config, "iterations": 0}, P.config_schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**config, "bogus": 1}, P.config_schema())
    row = {"id": "a1", "style": "x.wav", "content": None, "seed": None, "iterations": 5}
    jsonschema.validate(row, P.manifest_schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**row, "id": "../evil"}, P.manifest_schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**row, "device": "cpu"}, P.manifest_schema())


def test_transfer_defaults_apply_only_with_a_content_and_stay_below_every_layer():
    transfer = P.PRESETS["default"]["transfer"]
    assert transfer, "the default preset has transfer settings"
    as_texture, as_transfer = P.resolve({}), P.resolve({}, kind="transfer")
    for key, value in transfer.items():
        assert as_transfer[key] == value
    assert any(as_texture[key] != value for key, value in transfer.items())
    assert "transfer" not in as_texture and "transfer" not in as_transfer  # not a parameter key
    key = next(k for k, v in transfer.items() if as_texture[k] != v)
    # config, row and CLI values beat the preset's transfer settings
    assert P.resolve({key: as_texture[key]}, kind="transfer")[key] == as_texture[key]
    # a preset without transfer settings resolves the same for both kinds
    assert P.resolve({"preset": "ulyanov"}, kind="transfer") == P.resolve({"preset": "ulyanov"})
    with pytest.raises(ValueError, match="kind"):
        P.resolve({}, kind="remix")


def test_readme_keys_table_lists_every_key_of_every_stage():
    """README's table of keys by stage is written by hand: it must name exactly the keys each stage reads."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    rows = {}
    for line in readme.splitlines():
        match = re.match(r"\| (\w+)[^|]* \| (.*`.*) \|$", line)
        if match and match.group(1) in P.STAGES:
            rows[match.group(1)] = set(re.findall(r"`(\w+)`", match.group(2)))
    expected = {stage: set(P.keys_for([stage])) for stage in P.STAGES if P.keys_for([stage])}
    assert rows == expected
