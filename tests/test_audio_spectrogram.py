"""Decoding every shipped format, bad audio files, spectrogram files and their sidecars."""
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiotex import steps
from audiotex.audio import audio_format, load_audio, peak_safe, write_audio
from audiotex.errors import AudiotexError
from audiotex.spectrogram import frames_for, load_spectrogram, log_spectrogram, save_spectrogram

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"


@pytest.mark.parametrize("name", ["env_fire_furnace_minetest.ogg", "env_machinery_3dprinter_sonicpi.flac",
                                  "sp_arctic_a0009.wav"])
def test_decodes_real_files_to_mono_at_target_rate(name):
    y = load_audio(DEMO / name, sr=8000, offset=0.5, duration=1.0)
    assert y.ndim == 1 and y.dtype == np.float32
    assert abs(y.size - 8000) <= 2
    assert np.abs(y).max() > 1e-3


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "mp3"])
def test_decodes_formats_written_here(tmp_path, fmt):
    t = np.arange(16000) / 16000
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    path = tmp_path / f"tone.{fmt}"
    try:
        sf.write(path, np.stack([tone, tone], 1), 16000)
    except Exception as err:  # a libsndfile without that codec cannot write it: only this format skips
        pytest.skip(f"libsndfile cannot write {fmt}: {err}")
    y = load_audio(path, sr=16000)
    assert abs(y.size - tone.size) < 2000  # lossy codecs pad a little
    assert np.corrcoef(y[1000:9000], tone[1000:9000])[0, 1] > 0.95


@pytest.mark.parametrize("make,fragment", [
    (lambda p: None, "no such file"),
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: p.write_bytes(b"RIFF" + bytes(range(256)) * 20), "cannot decode"),
    (lambda p: sf.write(p, np.zeros(8000), 8000), "silent"),
])
def test_bad_audio_gets_one_line_naming_the_file(tmp_path, make, fragment):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(AudiotexError) as err:
        load_audio(path, sr=8000)
    assert str(path) in str(err.value) and fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_write_audio_is_peak_safe_and_atomic(tmp_path):
    loud = np.array([0.0, 3.0, -2.0], dtype=np.float32)
    assert np.abs(peak_safe(loud)).max() == pytest.approx(0.99)
    quiet = np.array([0.1, -0.2], dtype=np.float32)
    assert np.array_equal(peak_safe(quiet), quiet)
    out = tmp_path / "o.wav"
    write_audio(out, np.sin(np.arange(8000)).astype(np.float32) * 2, 8000)
    y, _ = sf.read(out)
    assert np.abs(y).max() <= 0.99 + 1e-4
    with pytest.raises(AudiotexError):
        write_audio(tmp_path / "nan.wav", np.array([np.nan], dtype=np.float32), 8000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.wav"]  # no temporary left behind


@pytest.mark.parametrize("name,fmt", [("o.wav", "WAV"), ("o.FLAC", "FLAC"), ("o.aiff", "AIFF")])
def test_write_audio_takes_the_format_from_the_extension(tmp_path, name, fmt):
    assert audio_format(tmp_path / name) == fmt
    write_audio(tmp_path / name, np.zeros(800, dtype=np.float32) + 0.1, 8000)
    info = sf.info(tmp_path / name)
    assert (info.format, info.subtype, info.frames) == (fmt, "PCM_16", 800)


@pytest.mark.parametrize("name,fragment", [("o.mp3", "as a .mp3 file"), ("o.ogg", "as a .ogg file"),
                                           ("o", "without an extension"), ("o.txt", "as a .txt file")])
def test_write_audio_refuses_formats_without_16_bit_pcm_naming_the_file(tmp_path, name, fragment):
    with pytest.raises(AudiotexError, match=fragment) as err:
        write_audio(tmp_path / name, np.zeros(800, dtype=np.float32), 8000)
    assert str(tmp_path / name) in str(err.value) and ".wav" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_a_spectrogram_without_the_npy_extension_is_written_to_that_very_name(tmp_path):
    spec = np.random.default_rng(0).random((5, 7)).astype(np.float32)
    save_spectrogram(tmp_path / "spec", spec, {"sr": 8000, "n_fft": 8, "hop_length": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec", "spec.json"]
    loaded, meta = load_spectrogram(tmp_path / "spec")
    assert np.array_equal(loaded, spec) and meta["shape"] == [5, 7]
    with pytest.raises(AudiotexError, match="cannot be named .json"):
        save_spectrogram(tmp_path / "other.json", spec, {"sr": 8000, "n_fft": 8, "hop_length": 2})
    assert not (tmp_path / "other.json").exists()


def test_spectrogram_file_records_its_parameters(tmp_path):
    out = tmp_path / "s.npy"
    spec = steps.spectrogram_file(DEMO / "sp_arctic_a0009.wav", out, {"sr": 16000, "n_fft": 512, "input_duration": 1.0})
    loaded, meta = load_spectrogram(out)
    assert np.array_equal(loaded, spec)
    assert (meta["sr"], meta["n_fft"], meta["hop_length"]) == (16000, 512, 128)
    assert loaded.shape == (257, frames_for(1.0, 16000, 128))
    assert np.all(loaded >= 0)


def test_log_spectrogram_matches_definition():
    y = np.random.default_rng(0).standard_normal(4096).astype(np.float32)
    import librosa
    expected = np.log1p(np.abs(librosa.stft(y, n_fft=256, hop_length=64)))
    assert np.allclose(log_spectrogram(y, 256, 64), expected, atol=1e-5)


def test_load_spectrogram_rejects_mismatched_sidecar(tmp_path):
    out = tmp_path / "s.npy"
    steps.spectrogram_file(DEMO / "sp_arctic_a0009.wav", out, {"sr": 16000, "n_fft": 512, "input_duration": 0.5})
    np.save(out, np.zeros((10, 10), dtype=np.float32))
    with pytest.raises(AudiotexError, match="does not fit n_fft"):
        load_spectrogram(out)


@pytest.fixture
def saved_spectrogram(tmp_path):
    out = tmp_path / "s.npy"
    steps.spectrogram_file(DEMO / "sp_arctic_a0009.wav", out, {"sr": 8000, "n_fft": 256, "input_duration": 0.5})
    return out


def test_load_spectrogram_rejects_nan_naming_the_file(saved_spectrogram):
    spec = np.load(saved_spectrogram)
    spec[3, 4] = np.nan
    np.save(saved_spectrogram, spec)
    with pytest.raises(AudiotexError, match="NaN or infinite") as err:
        load_spectrogram(saved_spectrogram)
    assert str(saved_spectrogram) in str(err.value)


@pytest.mark.parametrize("which,fragment", [("npy", "not a readable .npy file"),
                                            ("json", "not a readable JSON sidecar")])
def test_load_spectrogram_rejects_unreadable_files_naming_them(saved_spectrogram, which, fragment):
    broken = saved_spectrogram.with_suffix(f".{which}")
    broken.write_bytes(b"\x00garbage, not " + which.encode())
    with pytest.raises(AudiotexError, match=fragment) as err:
        load_spectrogram(saved_spectrogram)
    assert str(broken) in str(err.value) and "\n" not in str(err.value)


def test_load_spectrogram_names_a_missing_sidecar(saved_spectrogram):
    saved_spectrogram.with_suffix(".json").unlink()
    with pytest.raises(AudiotexError, match="no such file") as err:
        load_spectrogram(saved_spectrogram)
    assert str(saved_spectrogram.with_suffix(".json")) in str(err.value)


def test_load_spectrogram_gives_float32_for_a_float64_file(saved_spectrogram):
    np.save(saved_spectrogram, np.load(saved_spectrogram).astype(np.float64))
    spec, _ = load_spectrogram(saved_spectrogram)
    assert spec.dtype == np.float32
