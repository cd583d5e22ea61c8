"""Plots and the gallery page, on tiny synthetic runs made in tmp_path."""
from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path

import browser_check  # tests/browser_check.py
import numpy as np
import pytest

from audiotex.audio import write_audio
from audiotex.errors import AudiotexError
from audiotex.report import gallery_file, loss_series, mel_rows, plot_file
from audiotex.spectrogram import log_spectrogram, save_spectrogram
from audiotex.steps import write_loss_log

SR, N_FFT, HOP = 8000, 256, 64


def _tone(seconds: float, freq: float, seed: int) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    noise = np.random.default_rng(seed).standard_normal(t.size)
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.05 * noise).astype(np.float32)


def _clip(folder: Path, name: str, seconds: float, freq: float, seed: int) -> tuple[Path, Path]:
    """A WAV and its spectrogram (.npy + sidecar)."""
    y = _tone(seconds, freq, seed)
    wav = folder / "decoded" / f"{name}.wav"
    write_audio(wav, y, SR)
    npy = folder / "spectrograms" / f"{name}.npy"
    save_spectrogram(npy, log_spectrogram(y, N_FFT, HOP), {"sr": SR, "n_fft": N_FFT, "hop_length": HOP})
    return wav, npy


def make_row(results: Path, row_id: str, transfer: bool, seed: int, overrides: dict | None = None,
             file_stem: str | None = None) -> dict:
    """Every file one row of a finished run has, laid out like the workflow's results/ folder."""
    stem = file_stem or row_id
    style_wav, style_npy = _clip(results, f"{stem}-style", 1.0, 300 + 100 * seed, seed)
    content_wav = content_npy = None
    if transfer:
        content_wav, content_npy = _clip(results, f"{stem}-content", 1.5, 220, seed + 100)
    y = _tone(1.25, 330, seed + 200)
    output_wav = results / "audio" / f"{stem}.wav"
    write_audio(output_wav, y, SR)
    synth_npy = results / "synthesized" / f"{stem}.npy"
    save_spectrogram(synth_npy, log_spectrogram(y, N_FFT, HOP), {
        "sr": SR, "n_fft": N_FFT, "hop_length": HOP, "settings": {"iterations": 30, "layers": "5x32"},
        "device": "cpu", "wall_seconds": 75.5 + seed, "iterations": 30, "resumed_from": 10 if seed == 2 else None,
        "final_losses": {"loss": 0.05}})
    losses = [{"iteration": i, "loss": 10 * 0.9 ** i, "style": 8 * 0.9 ** i, "seconds": 0.01 * i}
              for i in range(30)]
    if transfer:
        for i, row in enumerate(losses):
            row["content"] = 2 * 0.95 ** i
    loss_tsv = results / "synthesized" / f"{stem}.loss.tsv"
    write_loss_log(loss_tsv, losses)
    invert_json = results / "audio" / f"{stem}.json"
    invert_json.write_text(json.dumps({"spectral_convergence": 0.125, "wall_seconds": 2.5, "device": "cpu"}))
    plot_png = results / "plots" / f"{stem}.png"
    plot_file(row_id, style_npy, content_npy, synth_npy, loss_tsv, plot_png)
    return {"id": row_id, "style_audio": style_wav, "content_audio": content_wav, "output_audio": output_wav,
            "plot_png": plot_png, "synth_json": synth_npy.with_suffix(".json"), "invert_json": invert_json,
            "overrides": overrides or {}}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[Path, list[dict], Path]:
    """A finished run of three rows (one style transfer, two textures) and its metrics table."""
    results = tmp_path_factory.mktemp("run") / "results"
    rows = [make_row(results, "speech_as_rain", True, 1, overrides={"iterations": 30}),
            make_row(results, "hum#2", False, 2),
            make_row(results, "noise", False, 3)]
    metrics = results / "metrics.tsv"
    metrics.write_text("id\ttexture_distance\tcopy_score\tunused\n"
                       "speech_as_rain\t0.123456\t0.5\t\nhum#2\t0.25\t0.75\t\nnoise\t0.5\t0.0625\t\n")
    return results, rows, metrics


class _Elements(HTMLParser):
    """Collects sections (with their audio and img sources) and every src/href of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[dict] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.sections.append({"id": a.get("id"), "audio": [], "img": []})
        elif tag in ("audio", "img") and self.sections:
            self.sections[-1][tag].append(a["src"])
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]


def _parse(page: Path) -> _Elements:
    parser = _Elements()
    parser.feed(page.read_text())
    return parser


# ------------------------------------------------------------------ plot


def test_plot_file_writes_png_of_expected_size(tiny_run):
    results, rows, _ = tiny_run
    import matplotlib.image

    for row in rows:
        png = row["plot_png"]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.stat().st_size > 20_000  # three spectrograms and a loss plot, not an empty canvas
        image = matplotlib.image.imread(png)
        assert image.shape[:2] == (715, 1210)  # 11 x 6.5 in at 110 dpi
        assert image[..., :3].std() > 0.1  # not a blank page
    assert not list(results.joinpath("plots").glob(".*"))  # no temporary files left behind


def test_plot_file_linear_scale_and_errors(tiny_run, tmp_path):
    _, rows, _ = tiny_run
    row = rows[1]
    synth = row["synth_json"].with_suffix(".npy")
    style = row["plot_png"].parents[1] / "spectrograms" / "hum#2-style.npy"
    loss = synth.with_name("hum#2.loss.tsv")
    linear = tmp_path / "linear.png"
    plot_file("hum#2", style, None, synth, loss, linear, frequency_scale="linear")
    assert linear.stat().st_size > 20_000
    with pytest.raises(AudiotexError, match="missing.loss.tsv"):
        plot_file("hum#2", style, None, synth, tmp_path / "missing.loss.tsv", tmp_path / "x.png")
    with pytest.raises(AudiotexError, match="nothing.npy"):
        plot_file("hum#2", tmp_path / "nothing.npy", None, synth, loss, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_loss_series_puts_total_first_and_masks_values_a_log_axis_cannot_show():
    rows = [{"iteration": 0, "style": 4.0, "loss": 5.0, "spectrum": 0.0, "evaluations": 3, "seconds": 0.1},
            {"iteration": 1, "style": 2.0, "loss": 2.5, "spectrum": 0.0, "evaluations": 1, "seconds": 0.2},
            {"iteration": 2, "style": -1.0, "loss": 1.0, "spectrum": 0.0, "evaluations": 1, "seconds": 0.3}]
    series = loss_series(rows)
    # total first; an all-zero term is dropped; no time or evaluation-count column
    assert list(series) == ["loss", "style"]
    iterations, style = series["style"]
    assert iterations.tolist() == [0, 1, 2]
    assert style[:2].tolist() == [4.0, 2.0] and np.isnan(style[2])


def test_mel_rows_gives_low_frequencies_more_rows():
    n_bins = N_FFT // 2 + 1
    spec = np.tile(np.arange(n_bins, dtype=np.float32)[:, None], (1, 3))  # each row holds its bin index
    rows, top = mel_rows(spec, SR, N_FFT, n_rows=200)
    assert rows.shape == (200, 3) and top > 0
    bins = rows[:, 0]
    assert np.all(np.diff(bins) >= 0)  # monotone: frequency goes up the axis
    low, high = np.sum(bins < n_bins // 4), np.sum(bins >= 3 * n_bins // 4)
    assert low > 2 * high  # the bottom quarter of the bins gets far more rows than the top quarter


def test_importing_report_has_no_matplotlib_side_effects():
    code = "import sys, audiotex.report; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# ------------------------------------------------------------------ gallery


def test_gallery_has_one_sorted_section_per_row_with_working_relative_links(tiny_run):
    results, rows, metrics = tiny_run
    page = results / "report" / "index.html"
    gallery_file(rows, page, metrics)
    parsed = _parse(page)
    assert [s["id"] for s in parsed.sections] == ["row-hum#2", "row-noise", "row-speech_as_rain"]
    counts = {s["id"]: (len(s["audio"]), len(s["img"])) for s in parsed.sections}
    assert counts == {"row-hum#2": (2, 1), "row-noise": (2, 1), "row-speech_as_rain": (3, 1)}
    for url in parsed.urls:
        if url.startswith("#"):
            continue
        assert not url.startswith(("http:", "https:", "/", "data:")), url
        # a browser cuts a URL at '#' and '?': such characters in file names must be percent-encoded
        target = page.parent / urllib.parse.unquote(urllib.parse.urlsplit(url).path)
        assert target.is_file(), url
    text = page.read_text()
    assert "http://" not in text and "https://" not in text  # nothing fetched from the network


def test_gallery_shows_metrics_run_record_and_highlights_overrides(tiny_run):
    results, rows, metrics = tiny_run
    page = results / "report" / "facts.html"
    gallery_file(rows, page, metrics)
    text = page.read_text()
    assert "0.1235" in text and "0.0625" in text  # metrics, to 4 significant digits
    assert ">unused<" not in text  # a column empty for every row is left out
    assert "1 min 16 s" in text  # synthesis wall time of hum#2 (75.5 + 1 s)
    assert "resumed from 10" in text
    assert '<div class="setting override"' in text and "iterations = 30" in text
    assert text.count('class="setting override"') == 1  # only the row whose manifest set it


def test_gallery_escapes_ids_and_values(tiny_run, tmp_path):
    results, rows, _ = tiny_run
    nasty = '<script>alert("x")</script>&'
    row = dict(rows[2], id=nasty, overrides={"layers": "<b>5x32</b>"})
    page = tmp_path / "escaped.html"
    gallery_file([row], page)
    text = page.read_text()
    assert "<script>alert" not in text and "<b>5x32" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in text
    assert len(_parse(page).sections) == 1


def test_gallery_embed_is_self_contained(tiny_run, tmp_path):
    _, rows, metrics = tiny_run
    page = tmp_path / "elsewhere" / "standalone.html"
    gallery_file(rows, page, metrics, embed=True)
    parsed = _parse(page)
    sources = [src for s in parsed.sections for src in s["audio"] + s["img"]]
    assert len(sources) == 10 and all(src.startswith("data:") for src in sources)
    first_audio = parsed.sections[0]["audio"][0]
    assert first_audio.startswith("data:audio/wav;base64,")
    assert base64.b64decode(first_audio.split(",", 1)[1]) == rows[1]["style_audio"].read_bytes()


def test_gallery_names_the_row_and_file_at_fault(tiny_run, tmp_path):
    _, rows, _ = tiny_run
    broken = dict(rows[0], output_audio=tmp_path / "gone.wav")
    with pytest.raises(AudiotexError, match=r"speech_as_rain.*gone\.wav"):
        gallery_file([broken], tmp_path / "page.html")
    with pytest.raises(AudiotexError, match="same id"):
        gallery_file([rows[0], rows[0]], tmp_path / "page.html")
    assert not (tmp_path / "page.html").exists()


# ------------------------------------------------------------------ in a real browser

@pytest.mark.browser
@pytest.mark.slow
def test_gallery_media_load_in_headless_chromium(tiny_run, tmp_path):
    if not browser_check.CHROMIUM.exists():
        pytest.skip(f"{browser_check.CHROMIUM} not found: install the Debian package 'chromium' "
                    "(apt-get install -y --no-install-recommends chromium) to run the browser test")
    results, rows, metrics = tiny_run
    page = results / "report" / "index.html"
    standalone = results / "report" / "standalone.html"
    gallery_file(rows, page, metrics)
    gallery_file(rows, standalone, metrics, embed=True)
    profile = tmp_path / "chromium-profile"
    started = time.perf_counter()

    for html_page in (page, standalone):
        report = browser_check.media_check(html_page, profile)
        assert len(report["audio"]) == 7 and len(report["images"]) == 3
        for audio in report["audio"]:
            assert audio["error"] is None and audio["duration"] and audio["duration"] > 0.9, audio
        for image in report["images"]:
            assert image["naturalWidth"] == 1210, image
        durations = {(a["row"], a["src"].rsplit("/", 1)[-1]): a["duration"] for a in report["audio"]
                     if not a["src"].startswith("data:")}
        if durations:  # the linked page: each player plays its own file (the content clip is 1.5 s)
            assert durations[("speech_as_rain", "speech_as_rain-content.wav")] == pytest.approx(1.5, abs=0.01)

    # the id filter, preset from the URL, hides the other rows
    dom = browser_check.dump_dom(page.resolve().as_uri() + "?q=HUM", profile)
    assert '<span id="count" class="count">1 of 3 rows</span>' in dom
    assert dom.count('class="row hidden"') == 2

    shot = browser_check.screenshot(page.resolve().as_uri() + "?open", tmp_path / "gallery.png", profile)
    assert shot.stat().st_size > 50_000
    print(f"browser checks took {time.perf_counter() - started:.1f} s; screenshot: {shot}")
