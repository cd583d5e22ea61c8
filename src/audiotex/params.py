"""The one parameter vocabulary shared by config.yaml, manifest columns and CLI flags.

Every parameter is defined once in :data:`PARAMS` (name, type, default, range, help and the stages that
read it). Everything else derives from that table: CLI ``--set`` validation and help, the JSON schemas that
the workflow validates config.yaml and the manifest against, the per-stage ``params:`` each rule receives
(so Snakemake reruns exactly the stages a change touches), and the presets.

Resolution order, lowest first: built-in defaults < preset < config.yaml < manifest row (or CLI flags).
A preset may hold a ``transfer`` sub-mapping that applies, just above the preset, when a content clip is
given (a manifest row with a content, the CLI's ``transfer`` command): see :func:`resolve`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from .errors import AudiotexError

#: Stages of the pipeline, in order. ``runtime`` keys change how a job runs, never what it produces, so
#: they are kept out of every stage's rerun-triggering parameters.
STAGES = ("decode", "spectrogram", "synthesize", "invert", "metrics", "runtime")

#: The JSON-schema dialect Snakemake validates with (2020-12; the keywords used mean the same in draft-07,
#: and declaring the dialect it uses spares a warning on every run).
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

#: One random convolution layer, ``WIDTHxFILTERS`` or ``WIDTHxFILTERS/POOL``; its groups are width,
#: filters and pool (:func:`audiotex.banks.parse_layers` reads them), each a positive integer.
LAYER_PATTERN = r"\s*(0*[1-9]\d*)\s*x\s*(0*[1-9]\d*)\s*(?:/\s*(0*[1-9]\d*)\s*)?"
#: The longest row id: ids name files (``{id}.iter00010.npy``, logs), and a file name may have 255 bytes.
MAX_ID_LENGTH = 128
#: Key ``layers``: layers comma separated (the schemas validate with it, so both agree on the grammar).
LAYERS_PATTERN = rf"^{LAYER_PATTERN}(,{LAYER_PATTERN})*$"


@dataclass(frozen=True)
class Param:
    """One configuration key.

    Attributes:
        name: the key, as written in config.yaml, manifest headers and ``--set``.
        type: ``int``, ``float``, ``bool`` or ``str``.
        default: the built-in default (``None`` where ``nullable``).
        help: one line for ``--help`` and the schemas.
        stages: the stages whose outputs depend on this key.
        minimum, maximum: inclusive bounds for numbers.
        exclusive_minimum: the minimum itself is not allowed.
        choices: the allowed values of a string key.
        nullable: ``None`` (an empty cell, ``null`` in YAML, ``none`` on the CLI) is allowed.
        pattern: a regular expression a string value must match.
    """

    name: str
    type: type
    default: Any
    help: str
    stages: tuple[str, ...]
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    choices: tuple[str, ...] | None = None
    nullable: bool = False
    pattern: str | None = None


def _p(name: str, type_: type, default: Any, help_: str, stages: str | tuple[str, ...], **kw: Any) -> Param:
    return Param(name, type_, default, help_, (stages,) if isinstance(stages, str) else stages, **kw)


PARAMS: dict[str, Param] = {p.name: p for p in [
    # which named set of defaults to start from
    _p("preset", str, "default", "named set of defaults to start from (see `audiotex presets`)", (),
       choices=("default", "ulyanov", "fast")),
    # decode
    _p("sr", int, 22050, "sample rate (Hz) audio is resampled to", "decode", minimum=1000, maximum=192000),
    _p("offset", float, 0.0, "seconds to skip at the start of each input file", "decode", minimum=0.0),
    _p("input_duration", float, None, "seconds of each input file to use (empty: the whole file)", "decode",
       minimum=0.0, exclusive_minimum=True, nullable=True),
    # spectrogram
    _p("n_fft", int, 2048, "FFT size of the STFT (Hann window of the same length)", "spectrogram",
       minimum=32, maximum=16384),
    _p("hop_length", int, None, "STFT hop in samples (empty: n_fft / 4)", "spectrogram",
       minimum=1, maximum=16384, nullable=True),
    # synthesize
    _p("duration", float, None,
       "output length in seconds (empty: the content clip's length, or the style clip's for a texture)",
       "synthesize", minimum=0.0, exclusive_minimum=True, nullable=True),
    _p("seed", int, 0, "random seed of the feature bank, the initial noise and the initial phase",
       ("synthesize", "invert"), minimum=0, maximum=2**31 - 1),
    _p("layers", str, "11x4096",
       "random 1-D convolution layers: WIDTHxFILTERS[/POOL] (positive integers), comma separated; POOL averages POOL "
       "frames first",
       "synthesize", pattern=LAYERS_PATTERN),
    _p("style_weight", float, 1.0, "weight of the Gram-matrix (style) loss", "synthesize", minimum=0.0),
    _p("content_weight", float, 1e-2,
       "weight of the content loss, the transfer knob: 0 moves furthest toward the style, larger keeps more "
       "of the content; its scale depends on content_target (about 0.01 for features, 5 for envelopes); "
       "unused for textures", "synthesize", minimum=0.0),
    _p("content_target", str, "features",
       "what the content loss holds the output to: the bank's feature maps (the seed's; holds the content's levels and "
       "spectrum too), or each band's envelope and the onsets over time, up to gain and offset (holds when "
       "things happen, and leaves the levels and spectrum to the style)", "synthesize",
       choices=("features", "envelopes")),
    _p("content_window", float, 0.05,
       "content_target=envelopes: seconds of power averaged into each envelope frame; what changes faster "
       "(grain, crackle, flutter) is left to the style", "synthesize", minimum=0.0),
    _p("content_top_db", float, 40.0,
       "content_target=envelopes: bands more than this many dB below the content's loudest band carry no "
       "content weight, so their time structure is left to the style", "synthesize", minimum=0.0,
       exclusive_minimum=True),
    _p("content_pause_db", float, None,
       "content_target=envelopes: frames where the whole content is more than this many dB below its loudest "
       "are pauses, which the content term leaves to the style instead of holding a hole there (empty: every "
       "frame is held)", "synthesize", minimum=0.0, exclusive_minimum=True, nullable=True),
    _p("content_bands", int, 48,
       "content_target=envelopes: number of log-spaced frequency bands whose envelopes the content term holds; "
       "finer bands let each of a chord's partials keep its own decay", "synthesize", minimum=2, maximum=1024),
    _p("content_onset_weight", float, 3.0,
       "content_target=envelopes: weight of the onset curve (where events start) against the band envelopes "
       "in the content term", "synthesize", minimum=0.0),
    _p("autocorr_weight", float, 0.0, "weight of the feature autocorrelation (rhythm) loss", "synthesize",
       minimum=0.0),
    _p("autocorr_max_lag", float, 2.0, "longest lag (s) the autocorrelation loss matches", "synthesize",
       minimum=0.0, exclusive_minimum=True),
    _p("diversity_weight", float, 0.0,
       "weight of the diversity loss: penalises closeness to the style clip at any time shift", "synthesize",
       minimum=0.0),
    _p("copy_weight", float, 0.0,
       "weight of the copy loss: penalises each window of the output whose best match anywhere in the style "
       "(dB band envelopes, each band's mean over the window removed) is closer than the style's two halves' "
       "windows are to each other; sounds that repeat themselves are left alone", "synthesize", minimum=0.0),
    _p("diversity_window", float, 1.0,
       "window (s) over which the diversity and copy losses compare output and style",
       "synthesize", minimum=0.0, exclusive_minimum=True),
    _p("spectrum_weight", float, 0.0, "weight of the mean log-spectrum loss", "synthesize", minimum=0.0),
    _p("band_weight", float, 0.0,
       "weight of the band statistics loss: mean, fluctuation and co-fluctuation of log-spaced bands",
       "synthesize", minimum=0.0),
    _p("moment_weight", float, 0.0,
       "weight of the band moments loss: skewness and kurtosis of log-spaced band envelopes (sparse sounds)",
       "synthesize", minimum=0.0),
    _p("level_weight", float, 0.0,
       "weight of the level loss: each frequency's mean and spread of level in dB (down to 80 dB below the "
       "loudest), so quiet bands stay as quiet and as steady as the style's", "synthesize", minimum=0.0),
    _p("correlation_weight", float, 0.0,
       "weight of the envelope correlation loss: how log-spaced bands rise and fall together, on envelopes "
       "compressed as the cochlea does (magnitude ** 0.3), which see broadband dips as well as swells",
       "synthesize", minimum=0.0),
    _p("db_weight", float, 0.0,
       "weight of the dB envelope loss: mean, covariance and persistence (autocovariance at 1-16 frames) of "
       "log-spaced bands' levels in dB, down to 80 dB below the loudest (bands: how many)", "synthesize",
       minimum=0.0),
    _p("bands", int, 48,
       "number of log-spaced frequency bands of the band statistics, moments, dB envelope and envelope "
       "correlation losses", "synthesize", minimum=2, maximum=1024),
    _p("gram_norm", str, "frames", "divide Gram matrices by the number of frames or of elements (seed: how_div)",
       "synthesize", choices=("frames", "elements")),
    _p("loss", str, "l2", "distance between Gram matrices and between features", "synthesize",
       choices=("l2", "smooth_l1")),
    _p("normalize_gradients", bool, False, "L1-normalise each loss term's gradient (seed: normalize_gradients)",
       "synthesize"),
    _p("optimizer", str, "lbfgs", "optimiser of the spectrogram", "synthesize", choices=("lbfgs", "adam")),
    _p("iterations", int, 300, "optimiser iterations", "synthesize", minimum=1, maximum=100000),
    _p("learning_rate", float, None, "step size (empty: 1 for L-BFGS, 0.05 for Adam)", "synthesize",
       minimum=0.0, exclusive_minimum=True, nullable=True),
    _p("init", str, "noise",
       "initial spectrogram: small white noise, noise with the style's mean and spread per frequency, the "
       "style with its time scrambled (phase: random phases per modulation frequency, the same for every "
       "bin, so its slow and broadband fluctuations stay; phase_db: the same on its levels in dB, each bin then "
       "given back the style's own values in the new order, so its broadband dips stay too), or the content "
       "spectrogram itself (transfers only)",
       "synthesize", choices=("noise", "spectrum", "phase", "phase_db", "content")),
    _p("init_neighbours", int, 0,
       "init=phase or phase_db: 0 keeps each modulation frequency's own pattern of phases across bins, which "
       "makes the output match stretches of the style at some shift; N takes it from a random mix of N "
       "neighbouring modulation frequencies on each side instead (less copying)", "synthesize",
       minimum=0, maximum=1000),
    _p("init_independent_seconds", float, 0.0,
       "init=phase or phase_db: modulations this slow or slower (period in seconds) get their own random phase "
       "in every bin, since a clip holds too few of their cycles for their pattern across bins to be a "
       "statistic rather than one event of the recording: less copying, at a cost to the band statistics "
       "(0: none)", "synthesize", minimum=0.0),
    _p("init_candidates", int, 1,
       "init=phase or phase_db: draw this many scrambled starts and keep the one whose windows (diversity_window "
       "long) match the style least; the output copies about as much as its start did", "synthesize",
       minimum=1, maximum=1000),
    _p("style_fade_db", float, None,
       "leading and trailing stretches of the style more than this many dB below its median level (a fade-in "
       "or fade-out, silence at the ends) are left out of its statistics and the starting point: how the clip "
       "was cut is not the texture (empty: every frame counts)", "synthesize", minimum=0.0,
       exclusive_minimum=True, nullable=True),
    _p("init_scale", float, 1e-3, "standard deviation of the initial white noise (init=noise)", "synthesize",
       minimum=0.0),
    _p("loop", bool, False, "make a seamless loop: circular convolutions, the end flows into the start",
       ("synthesize", "invert")),
    _p("style_edge_frames", int, 0,
       "frames at each end of the style left out of its statistics and the starting point: those whose STFT "
       "window reaches past the clip's ends, where a clip cut mid-sound has a broadband click (n_fft / "
       "hop_length; 0: every frame counts)", "synthesize", minimum=0, maximum=1024),
    _p("hold_empty_bins", bool, False,
       "frequency bins the style (and content) leave empty, their median more than 80 dB below the loudest (a "
       "16 kHz recording read at 22.05 kHz has nothing above 8 kHz), stay as empty in the output: the "
       "synthesized spectrogram is capped there at their level (the 99th percentile over time: sparse attacks "
       "stay), and the bins it leaves below that floor in 99% of its frames are filtered out of the inverted sound",
       ("synthesize", "invert")),
    # invert
    _p("n_iter", int, 500, "Griffin-Lim iterations", "invert", minimum=0, maximum=100000),
    _p("momentum", float, 0.99, "fast Griffin-Lim momentum (0: the plain algorithm)", "invert",
       minimum=0.0, maximum=1.0, ),
    _p("phase_init", str, "random", "initial phase of Griffin-Lim", "invert", choices=("random", "zeros")),
    _p("refine_iterations", int, 0,
       "iterations of waveform optimisation after Griffin-Lim (0: none)", "invert", minimum=0, maximum=100000),
    _p("refine_target", str, "spectrogram",
       "what the waveform optimisation matches: the spectrogram, or the style (and content) statistics "
       "that synthesized it, through a differentiable STFT (a spectrogram that was not synthesized: itself)",
       "invert", choices=("spectrogram", "statistics")),
    _p("refine_copy_weight", float, None,
       "refine_target=statistics: weight of the copy loss in the waveform optimisation (empty: copy_weight)",
       "invert", minimum=0.0, nullable=True),
    # runtime: how a job runs, never what it produces
    _p("device", str, "auto", "torch device: auto (CUDA when present), cpu or cuda", "runtime",
       choices=("auto", "cpu", "cuda")),
    _p("checkpoint_every", int, 25,
       "save the optimisation state every N iterations so a killed job resumes (0: never)", "runtime",
       minimum=0),
    _p("save_every", int, 0, "also save the spectrogram every N iterations (0: never)", "runtime", minimum=0),
    _p("shards", int, 0,
       "workflow only: put the rows into N shards by a hash of their id, one synthesize/invert/metrics/plot "
       "job per shard (0: one job per row)", "runtime", minimum=0, maximum=1000000),
]}

#: Named sets of defaults. Each is a partial mapping over :data:`PARAMS`; an optional ``transfer`` entry is
#: a partial mapping applied on top when a content clip is given (:func:`preset_values`).
PRESETS: dict[str, dict[str, Any]] = {
    # The seed: Ulyanov & Lebedev's TensorFlow notebook, value for value.
    "ulyanov": {
        "sr": 22050, "input_duration": 10.0, "n_fft": 2048, "hop_length": 512, "layers": "11x4096",
        "style_weight": 1.0, "content_weight": 1e-2, "autocorr_weight": 0.0, "diversity_weight": 0.0,
        "spectrum_weight": 0.0, "gram_norm": "frames", "loss": "l2", "normalize_gradients": False,
        "optimizer": "lbfgs", "iterations": 300, "learning_rate": None, "init": "noise", "init_scale": 1e-3,
        "n_iter": 500, "momentum": 0.0, "phase_init": "random", "refine_iterations": 0,
    },
    # Small enough for tests and a CPU demo: seconds per clip, not minutes.
    "fast": {
        "sr": 16000, "n_fft": 512, "hop_length": 128, "layers": "5x128,11x128/2", "iterations": 40,
        "init": "spectrum", "band_weight": 100.0, "moment_weight": 1.0, "n_iter": 48, "momentum": 0.99,
        "hold_empty_bins": True, "style_edge_frames": 4,
    },
    # The best trade-off measured (benchmarks/results/quality.tsv): finer time resolution, several
    # kernel widths, band statistics and moments, the style's own fluctuations to start from (below), and the
    # waveform itself optimised against the statistics after Griffin-Lim. No kernel wider than 31 frames
    # (0.18 s): a 63-frame layer over 2x pooled frames let the output copy stretches of the style (copy
    # score 0.53 vs a real excerpt's 0.15 on machinery, 0.37 vs 0.02 on water; without it 0.32 and 0.25,
    # lower on all six bench-quality clips, benchmarks/results/quality_texture_screen.tsv) at 0.8x the CPU.
    # It starts from the style with its time scrambled (init=phase): starting from noise, the optimiser left
    # the fluctuations too fast and too independent across bands (fire, averaged over 20 ms: 0.52x the real
    # spread, lag-1 correlation 0.22 vs 0.63), which is how a log-mel classifier told the textures apart.
    # From there 150 iterations do what 300 did (benchmarks/results/quality_phase_screen.tsv). The level term
    # keeps quiet bands quiet: water's lowest mel band was left too loud, a tell for the classifier
    # (quality_phase_screen4.tsv). The scrambled start and the dB terms work on levels in dB (phase_db,
    # db_weight, correlation_weight): in log1p a quiet bin is nearly linear in magnitude, so broadband dips
    # (water's bands correlate 0.82 in dB, 0.58 in log1p) were lost, and the classifier saw them; neighbours'
    # phases (init_neighbours) keep the start from copying stretches of the style (quality_db_screen*.tsv).
    # The dB and correlation terms are steep for near-silent bins and slow the waveform refinement down, so
    # it gets 350 iterations, not 200: the two-sample accuracy fell on 12 of 18 runs (median excess over the
    # floor 0.051 -> 0.036, benchmarks/results/quality_refine350_screen.tsv).
    # Bins the style leaves empty (a 16 kHz recording read at 22.05 kHz, a guitar with nothing above 4 kHz)
    # stay empty (hold_empty_bins): the optimiser filled them with noise below the level terms' floor, 17-42
    # dB over the style, which decided the classifier and the distance on speech (3 seeds: median excess over
    # the floor 0.046 -> 0.022, distance at most 2.70 -> 0.95 per clip, quality_speech_hold.tsv) and took the
    # guitar's distance from 0.75 to 0.64 (quality_full_seeds.tsv against quality_full_seeds_before_hold.tsv;
    # median excess of the six clips 0.036 -> 0.045, worst clip 0.123 either way); transfers unchanged
    # (transfer_hold_empty.tsv). The cap is each bin's 99th percentile, not its median, so that sparse attacks
    # there stay: a held-out percussion loop went from accuracy 1.00 to 0.48 (floor 0.45), the guitar's
    # distance from 0.64 to 0.50 (quality_hold_p99.tsv, quality_heldout*.tsv).
    # The style's first and last 4 frames are left out of its statistics (style_edge_frames): the click where
    # a clip was cut mid-sound was in them, and the waveform refinement put one at the end of a held-out lava
    # recording's textures, every bin over 2 kHz at once (distance 2.40 -> 1.66; quality_edges*.tsv).
    # The copy term weighs 1000 in the spectrogram stage and nothing in the waveform refinement: the machinery
    # copied its style 0.11 over a real excerpt (3 seeds), 0.05 with it; vinyl and the drum loop, whose
    # windows never pass their honest level, are unchanged to the bit. In the refinement too it pulled
    # water's slow swells apart (distance 1.0 -> 1.2; quality_copy*_screen.tsv, quality_copyspec*.tsv).
    "default": {
        "n_fft": 512, "hop_length": 128, "layers": "3x256,7x512,15x512,31x256",
        "init": "phase_db", "init_neighbours": 8, "band_weight": 100.0, "moment_weight": 1.0, "level_weight": 1.0,
        "db_weight": 10.0, "correlation_weight": 100.0, "iterations": 150,
        "n_iter": 500, "momentum": 0.99, "refine_target": "statistics", "refine_iterations": 350,
        "hold_empty_bins": True, "style_edge_frames": 4, "copy_weight": 1000.0, "refine_copy_weight": 0.0,
        # With a content clip (benchmarks/results/transfer*.tsv): start from the content itself (Grinstein et
        # al., ICASSP 2018) and hold only its time structure, each band's envelope and the onsets up to gain
        # and offset (content_target=envelopes), so levels and spectrum are free to become the style's; the
        # seed's feature loss held the content's levels too and moved less at the same content kept. The
        # 63-frame layer stays for transfers (measured with it: without, speech -> vinyl kept less than
        # ulyanov); no waveform refinement (it pulled content away: drum hits 0.87 -> 0.56 kept).
        # The content term holds 96 log-spaced bands (63 distinct at n_fft 512), finer than the style's 48
        # (content_bands): on 5 s of a guitar chord the 48 coarse bands let the vinyl's crackle take over the
        # partials' own decays (kept 0.78 against ulyanov's 0.875); with 96 for the content alone it keeps
        # 0.88. Bands down to 40 dB below the content's loudest are held (content_top_db; the metric's own
        # range) at weight 5, and onsets weigh 15x (10x kept speech -> vinyl's content 0.005 over ulyanov's on
        # an AMD EPYC and 0.0006 under it on an Intel Xeon: rounding decides margins that thin; 15x keeps
        # 0.907 against 0.900 there, and widened the thin 5 s / 10 s margins; transfer_intel*.tsv).
        # Moments 3x the texture's: the drums' sparse hits.
        # Every frame is held (content_pause_db unset): leaving speech's pauses to the style (30 dB) lets
        # 5 s of speech -> water move past ulyanov (0.601 against 0.583), but on 1.5 s of speech, whose
        # first 0.4 s is silence, the style filling that silence cost speech -> vinyl 0.17 of content kept
        # (0.749 against ulyanov's 0.900; transfer_pause30_screen.tsv). With the dB term below this beats
        # ulyanov on both counts on the 8 bench pairs, the 8 held-out ones and the 3 pairs at 5 s / 10 s; the
        # thinnest margins are under 0.01 (speech -> water at 5 s moves 0.592 against 0.585)
        # (benchmarks/results/transfer.tsv, transfer_heldout.tsv, transfer_long.tsv; screens in
        # transfer_screen3.tsv, transfer_screen4.tsv, transfer_long_screen.tsv, transfer_pause_screen.tsv and
        # transfer_pause30_screen.tsv).
        "transfer": {"layers": "3x256,7x512,15x512,31x256,63x256/2", "init": "content",
                     "content_target": "envelopes", "content_weight": 5.0, "content_top_db": 40.0,
                     "content_onset_weight": 15.0, "content_bands": 96, "moment_weight": 3.0, "level_weight": 0.0,
                     "content_window": 0.05, "iterations": 300, "refine_iterations": 0,
                     # A lighter dB term moves further toward the style on every bench pair without holes
                     # (transfer_db_screen*.tsv); the correlation term pulled content away.
                     "db_weight": 3.0, "correlation_weight": 0.0,
                     # Every style frame counts: no waveform refinement here to copy an edge click, and
                     # with the edges left out speech -> vinyl kept 0.896 of its content against
                     # ulyanov's 0.900 (transfer_edges_screen.tsv).
                     "style_edge_frames": 0,
                     # the copy term was not measured on transfers: their content keeps them off the style
                     "copy_weight": 0.0},
    },
}


def param(name: str, source: str = "") -> Param:
    """Return the :class:`Param` called ``name``; raise :class:`AudiotexError` naming ``source`` if unknown."""
    try:
        return PARAMS[name]
    except KeyError:
        where = f"{source}: " if source else ""
        known = ", ".join(sorted(PARAMS))
        raise AudiotexError(f"{where}unknown key {name!r} (known keys: {known})") from None


_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}
_NULL = {"", "none", "null", "nan"}


def coerce(name: str, value: Any, source: str = "") -> Any:
    """Convert ``value`` (a string from a CLI flag or TSV cell, or a YAML scalar) to key ``name``'s type.

    Checks the range, choices and pattern, and raises :class:`AudiotexError` naming ``source`` and the key
    when the value does not fit. ``None`` and empty strings become ``None`` for nullable keys.
    """
    p = param(name, source)
    where = f"{source}: " if source else ""
    if isinstance(value, float) and math.isnan(value):
        value = None
    if isinstance(value, str) and value.strip().lower() in _NULL:
        value = None
    if value is None:
        if p.nullable:
            return None
        raise AudiotexError(f"{where}key {name!r} needs a value ({p.help})")
    try:
        if p.type is bool:
            if isinstance(value, bool):
                out: Any = value
            elif isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
                out = value.strip().lower() in _TRUE
            elif isinstance(value, (int, float)) and value in (0, 1):
                out = bool(value)
            else:
                raise ValueError
        elif p.type is int:
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, float):
                if not value.is_integer():
                    raise ValueError
                out = int(value)
            else:
                text = str(value).strip()
                out = int(float(text)) if re.fullmatch(r"[+-]?\d+(\.0*)?([eE]\+?\d+)?", text) else int(text)
        elif p.type is float:
            if isinstance(value, bool):
                raise ValueError
            out = float(value)
            if not math.isfinite(out):
                raise ValueError
        else:
            out = str(value).strip()
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(float('1e400'))
        raise AudiotexError(f"{where}key {name!r}: {value!r} is not a valid {p.type.__name__}") from None
    if p.choices is not None and out not in p.choices:
        raise AudiotexError(f"{where}key {name!r}: {out!r} is not one of {', '.join(p.choices)}")
    if p.pattern is not None and not re.match(p.pattern, out):
        raise AudiotexError(f"{where}key {name!r}: {out!r} is not of the form {p.help.split(':')[-1].strip()}")
    if p.minimum is not None and (out < p.minimum or (p.exclusive_minimum and out == p.minimum)):
        rel = ">" if p.exclusive_minimum else ">="
        raise AudiotexError(f"{where}key {name!r}: {out!r} is out of range (must be {rel} {p.minimum:g})")
    if p.maximum is not None and out > p.maximum:
        raise AudiotexError(f"{where}key {name!r}: {out!r} is out of range (must be <= {p.maximum:g})")
    return out


def validate(settings: Mapping[str, Any], source: str = "") -> dict[str, Any]:
    """Coerce and check every key of a partial mapping; unknown keys are errors naming ``source``."""
    return {name: coerce(name, value, source) for name, value in settings.items()}


def defaults() -> dict[str, Any]:
    """The built-in default of every key."""
    return {name: p.default for name, p in PARAMS.items()}


#: What a row or command makes: a texture (style only) or a style transfer (a content clip is given).
KINDS = ("texture", "transfer")


def preset_values(name: str, kind: str = "texture") -> dict[str, Any]:
    """The keys preset ``name`` sets for ``kind``: its own values, and for a transfer its ``transfer``
    sub-mapping on top (the settings that serve a content clip better than the texture ones)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
    values = {k: v for k, v in PRESETS[name].items() if k != "transfer"}
    if kind == "transfer":
        values.update(PRESETS[name].get("transfer", {}))
    return values


def resolve(*layers: Mapping[str, Any], source: str = "", kind: str = "texture") -> dict[str, Any]:
    """Resolve a full parameter set: defaults < preset (for ``kind``) < each of ``layers`` in order.

    The preset is the last ``preset`` named in ``layers`` (or ``default``); with ``kind="transfer"`` (a
    content clip is given) its ``transfer`` sub-mapping applies on top of it (:func:`preset_values`), still
    below every layer. An explicit ``None`` in a layer overrides for a nullable key (its null meaning,
    e.g. ``input_duration``: the whole file) and is an error naming the key for any other; an empty
    manifest cell, which means "use config.yaml", is left out of its layer by the caller.

    Returns a dict with every key of :data:`PARAMS`, validated.
    """
    checked = [validate(layer, source) for layer in layers]
    preset = "default"
    for layer in checked:
        preset = layer.get("preset", preset)
    resolved = defaults()
    resolved.update(preset_values(preset, kind))
    for layer in checked:
        resolved.update(layer)
    resolved["preset"] = preset
    return resolved


def stage_settings(settings: Mapping[str, Any], stage: str) -> dict[str, Any]:
    """The keys of ``settings`` that ``stage`` reads, in table order (a rule's rerun-triggering params)."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")
    return {name: settings[name] for name, p in PARAMS.items() if stage in p.stages and name in settings}


def keys_for(stages: Iterable[str]) -> list[str]:
    """Names of the keys read by any of ``stages``."""
    wanted = set(stages)
    return [name for name, p in PARAMS.items() if wanted & set(p.stages)]


def _property_schema(p: Param) -> dict[str, Any]:
    json_type = {int: "integer", float: "number", bool: "boolean", str: "string"}[p.type]
    schema: dict[str, Any] = {"type": [json_type, "null"] if p.nullable else json_type, "description": p.help}
    if p.choices is not None:
        schema["enum"] = list(p.choices) + ([None] if p.nullable else [])
    if p.pattern is not None:
        schema["pattern"] = p.pattern
    if p.minimum is not None:
        schema["exclusiveMinimum" if p.exclusive_minimum else "minimum"] = p.minimum
    if p.maximum is not None:
        schema["maximum"] = p.maximum
    return schema


def config_schema() -> dict[str, Any]:
    """JSON schema of config.yaml: the workflow's own keys plus every parameter key (all optional)."""
    props: dict[str, Any] = {
        "manifest": {"type": "string", "description": "path of the manifest TSV"},
    }
    props.update({name: _property_schema(p) for name, p in PARAMS.items()})
    return {
        "$schema": SCHEMA_DIALECT,
        "description": "audiotex workflow configuration (generated from audiotex.params; do not edit by hand)",
        "type": "object",
        "properties": props,
        "required": ["manifest"],
        "additionalProperties": False,
    }


def manifest_schema() -> dict[str, Any]:
    """JSON schema of one manifest row: id, style, content, and any parameter key as an override column.

    Empty cells mean "use config.yaml", so every override column also admits null (pandas reads an empty
    cell as NaN, which the workflow turns into null before validating).
    """
    props: dict[str, Any] = {
        "id": {"type": "string", "pattern": rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_ID_LENGTH - 1}}}$",
               "description": "unique row id, used in file names"},
        "style": {"type": "string", "minLength": 1, "description": "path of the style audio file"},
        "content": {"type": ["string", "null"],
                    "description": "path of the content audio file (empty: texture synthesis)"},
    }
    for name, p in PARAMS.items():
        if "runtime" in p.stages:
            continue  # how a job runs is the workflow's business, not a row's
        schema = _property_schema(p)
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        schema["type"] = types + (["null"] if "null" not in types else [])
        if "enum" in schema and None not in schema["enum"]:
            schema["enum"] = schema["enum"] + [None]
        props[name] = schema
    return {
        "$schema": SCHEMA_DIALECT,
        "description": "one row of the audiotex manifest (generated from audiotex.params; do not edit by hand)",
        "type": "object",
        "properties": props,
        "required": ["id", "style"],
        "additionalProperties": False,
    }
