"""The ``audiotex`` command: thin over :mod:`audiotex.steps`.

Every option maps to a key of the one parameter vocabulary (:mod:`audiotex.params`); ``--set key=value``
reaches any key. Errors a user can cause print one line and exit with status 2; no traceback, no partial file.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any, Sequence

from . import params as P
from . import steps
from .errors import AudiotexError
from .files import check_output_path


#: Help of every command's output audio argument (:func:`audiotex.audio.audio_format` picks the format).
AUDIO_OUTPUT_HELP = "output audio file: 16-bit PCM in the format its extension names (.wav, .flac, .aiff ...)"


def _keys_epilog(stages: Sequence[str]) -> str:
    lines = ["keys for --set KEY=VALUE (config.yaml and manifest columns use the same names):"]
    for name in P.keys_for(stages):
        p = P.PARAMS[name]
        extra = f" one of {'|'.join(p.choices)}" if p.choices else ""
        lines.append(f"  {name:<20} {p.type.__name__:<5} default {p.default!s:<8}{extra}")
        lines.append(textwrap.indent(textwrap.fill(p.help, 74), " " * 24))
    presets = ", ".join(f"{n}" for n in P.PRESETS)
    lines.append(f"presets: {presets} (`audiotex presets` shows their values)")
    return "\n".join(lines)


def _set_pair(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), value


def _add_preset_and_set(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=list(P.PRESETS), help="named set of defaults (default: default)")
    parser.add_argument("--set", dest="overrides", action="append", type=_set_pair, default=[],
                        metavar="KEY=VALUE", help="set any key of the vocabulary (repeatable)")


def _add_common(parser: argparse.ArgumentParser) -> None:
    _add_preset_and_set(parser)
    parser.add_argument("--seed", type=str, help="random seed (key 'seed')")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None,
                        help="torch device (key 'device'; auto: CUDA when present)")
    parser.add_argument("--duration", type=str, help="output length in seconds (key 'duration')")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _settings(args: argparse.Namespace, flag_keys: dict[str, str], kind: str = "texture") -> dict[str, Any]:
    """Resolve defaults < preset (for ``kind``: texture or transfer) < --set pairs < dedicated flags,
    validating each."""
    layer: dict[str, Any] = {}
    if getattr(args, "preset", None):
        layer["preset"] = args.preset
    for key, value in getattr(args, "overrides", []):
        layer[key] = value
    for attr, key in flag_keys.items():
        value = getattr(args, attr, None)
        if value is not None:
            layer[key] = value
    return P.resolve(layer, source="command line", kind=kind)


def _progress(total: int, quiet: bool):
    if quiet:
        return None, None
    from tqdm.auto import tqdm

    bars: list[Any] = []  # made at the first iteration, so errors before it print on a clean line

    def update(iteration: int, terms: dict[str, float]) -> None:
        if not bars:
            bars.append(tqdm(total=total, desc="synthesis", unit="it", file=sys.stderr, leave=False,
                             initial=iteration - 1))
        bar = bars[0]
        bar.n = iteration
        bar.set_postfix(loss=f"{terms.get('loss', float('nan')):.4g}", refresh=False)
        bar.refresh()

    return update, bars


def checkpoint_path(output: Path) -> Path:
    """Where a command writing ``output`` keeps its optimisation state (``checkpoint_every``): beside it, so
    that the same command, run again after it was killed, resumes; removed when the synthesis finishes."""
    return output.with_name(output.name + ".checkpoint.pt")


def _synthesize(style: Path, content: Path | None, out: Path, s: dict[str, Any], quiet: bool,
                checkpoint: Path) -> dict[str, Any]:
    update, bars = _progress(s["iterations"], quiet)
    try:
        return steps.synthesize_file(style, content, out, s, device=s["device"], save_every=s["save_every"],
                                     checkpoint=checkpoint if s["checkpoint_every"] else None,
                                     checkpoint_every=s["checkpoint_every"], progress=update)
    finally:
        for bar in bars or []:
            bar.close()


def _report(meta: dict[str, Any], inverted: dict[str, Any] | None, out: Path) -> None:
    losses = meta.get("final_losses", {})
    parts = [f"{k} {v:.4g}" for k, v in losses.items()]
    line = f"wrote {out}: {meta['iterations']} iterations on {meta['device']} in {meta['wall_seconds']:.1f} s"
    if parts:
        line += "; final " + ", ".join(parts)
    if inverted is not None:
        line += f"; spectral convergence {inverted['spectral_convergence']:.3f}"
    print(line)


def _check_audio_output(path: Path) -> None:
    """Refuse an output audio path that cannot be written before any work is done."""
    from .audio import audio_format

    check_output_path(path)
    audio_format(path)


def _check_spectrogram_output(path: Path) -> None:
    """Refuse an output spectrogram path that cannot be written before any work is done."""
    from .spectrogram import check_spectrogram_path

    check_output_path(path)
    check_spectrogram_path(path)


def cmd_texture(args: argparse.Namespace, content: Path | None = None) -> None:
    _check_audio_output(args.output)
    s = _settings(args, {"seed": "seed", "device": "device", "duration": "duration"},
                  kind="texture" if content is None else "transfer")
    with tempfile.TemporaryDirectory(prefix="audiotex-") as tmp:

        def spectrogram_path(name: str) -> Path:
            # with save_every the spectrograms stay beside the output (OUT.npy, OUT.iterNNNNN.npy), with the
            # style's and content's that OUT.npy's sidecar names, so `audiotex invert` can use them later
            if s["save_every"]:
                return args.output.with_suffix(".npy" if name == "output" else f".{name}.npy")
            return Path(tmp) / f"{name}.npy"

        style_npy = spectrogram_path("style")
        steps.spectrogram_file(args.style, style_npy, s)
        content_npy = None
        if content is not None:
            content_npy = spectrogram_path("content")
            steps.spectrogram_file(content, content_npy, s)
        out_npy = spectrogram_path("output")
        meta = _synthesize(style_npy, content_npy, out_npy, s, args.quiet, checkpoint_path(args.output))
        inverted = steps.invert_file(out_npy, args.output, s, device=s["device"])
    _report(meta, inverted, args.output)


def cmd_transfer(args: argparse.Namespace) -> None:
    cmd_texture(args, content=args.content)


def cmd_spectrogram(args: argparse.Namespace) -> None:
    _check_spectrogram_output(args.output)
    s = _settings(args, {"sr": "sr", "n_fft": "n_fft", "hop": "hop_length", "offset": "offset",
                         "duration": "input_duration"})
    spec = steps.spectrogram_file(args.audio, args.output, s)
    print(f"wrote {args.output}: {spec.shape[0]} bins x {spec.shape[1]} frames "
          f"(sr {s['sr']}, n_fft {s['n_fft']}) and its .json sidecar")


def cmd_synthesize(args: argparse.Namespace) -> None:
    _check_spectrogram_output(args.output)
    s = _settings(args, {"seed": "seed", "device": "device", "duration": "duration"},
                  kind="texture" if args.content is None else "transfer")
    meta = _synthesize(args.style, args.content, args.output, s, args.quiet, checkpoint_path(args.output))
    _report(meta, None, args.output)


def cmd_invert(args: argparse.Namespace) -> None:
    _check_audio_output(args.output)
    # a transfer's spectrogram is inverted with the preset's transfer values (default: no refinement)
    kind = "transfer" if steps.read_sidecar(args.input).get("content") else "texture"
    s = _settings(args, {"n_iter": "n_iter", "momentum": "momentum", "seed": "seed", "device": "device"},
                  kind=kind)
    inverted = steps.invert_file(args.input, args.output, s, device=s["device"])
    print(f"wrote {args.output}: spectral convergence {inverted['spectral_convergence']:.3f} "
          f"in {inverted['wall_seconds']:.1f} s on {inverted['device']}")


def cmd_metrics(args: argparse.Namespace) -> None:
    from .audio import load_audio
    from .metrics import TRANSFER_COLUMNS, audio_metrics

    sr = P.coerce("sr", args.sr, "--sr")
    content = None if args.content is None else load_audio(args.content, sr=sr)
    try:
        rows = audio_metrics(load_audio(args.output, sr=sr), load_audio(args.style, sr=sr), sr, content)
    except ValueError as err:  # a signal too short or silent for a metric
        raise AudiotexError(f"{args.output} against {args.style}: {err}") from None
    for key, value in rows.items():
        if content is not None or key not in ("content_distance", *TRANSFER_COLUMNS):
            print(f"{key}\t{'' if value is None else f'{value:.4f}'}")


def cmd_presets(args: argparse.Namespace) -> None:
    for name in P.PRESETS:
        resolved = P.resolve({"preset": name})
        print(f"[{name}]")
        for key in P.PARAMS:
            if key != "preset":
                print(f"  {key} = {resolved[key]}")
        transfer = P.resolve({"preset": name}, kind="transfer")
        changed = [key for key in P.PARAMS if transfer[key] != resolved[key]]
        if changed:
            print("  # with a content clip (style transfer), instead:")
            for key in changed:
                print(f"  {key} = {transfer[key]}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``audiotex`` command, with one subcommand per step."""
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="audiotex", description="Neural audio texture synthesis and style "
                                     "transfer with random 1-D convolution banks.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    synth_stages = ("decode", "spectrogram", "synthesize", "invert", "runtime")
    p = sub.add_parser("texture", help="synthesize a texture from a style clip (audio in, audio out)",
                       epilog=_keys_epilog(synth_stages), formatter_class=fmt,
                       description="Texture synthesis: decode STYLE, match its feature statistics, invert to OUTPUT. "
                                   "The output is as long as the style clip unless --duration says otherwise.")
    p.add_argument("style", type=Path, help="style audio file")
    p.add_argument("output", type=Path, help=AUDIO_OUTPUT_HELP)
    _add_common(p)
    p.set_defaults(func=cmd_texture)

    p = sub.add_parser("transfer", help="style transfer: the style of one clip with the content of another",
                       epilog=_keys_epilog(synth_stages), formatter_class=fmt,
                       description="Style transfer. The output is as long as the content clip unless --duration "
                                   "says otherwise (the content is then looped or cut). The preset's transfer "
                                   "settings apply (`audiotex presets`: default starts from the content itself and "
                                   "holds its band envelopes and onsets); --set content_weight=W trades style "
                                   "for content (0: the most style; larger keeps more of the content).")
    p.add_argument("--content", type=Path, required=True, help="content audio file")
    p.add_argument("--style", type=Path, required=True, help="style audio file")
    p.add_argument("output", type=Path, help=AUDIO_OUTPUT_HELP)
    _add_common(p)
    p.set_defaults(func=cmd_transfer)

    p = sub.add_parser("spectrogram", help="step 1: audio -> log1p|STFT| .npy (+ .json sidecar)",
                       epilog=_keys_epilog(("decode", "spectrogram")), formatter_class=fmt)
    p.add_argument("audio", type=Path, help="input audio file")
    p.add_argument("output", type=Path, help="output .npy file")
    p.add_argument("--sr", type=str, help="sample rate (key 'sr')")
    p.add_argument("--n-fft", dest="n_fft", type=str, help="FFT size (key 'n_fft')")
    p.add_argument("--hop", type=str, help="hop in samples (key 'hop_length')")
    p.add_argument("--offset", type=str, help="seconds to skip (key 'offset')")
    p.add_argument("--duration", type=str, help="seconds to read (key 'input_duration')")
    _add_preset_and_set(p)
    p.set_defaults(func=cmd_spectrogram)

    p = sub.add_parser("synthesize", help="step 2: style (+ content) spectrograms -> synthesized .npy",
                       epilog=_keys_epilog(("synthesize", "runtime")), formatter_class=fmt)
    p.add_argument("--style", type=Path, required=True, help="style spectrogram .npy")
    p.add_argument("--content", type=Path, default=None, help="content spectrogram .npy (omit: texture)")
    p.add_argument("output", type=Path, help="output .npy (a .json sidecar and .loss.tsv go beside it)")
    _add_common(p)
    p.set_defaults(func=cmd_synthesize)

    p = sub.add_parser("invert", help="step 3: spectrogram .npy -> audio with Griffin-Lim",
                       epilog=_keys_epilog(("invert", "runtime")), formatter_class=fmt)
    p.add_argument("input", type=Path, help="spectrogram .npy (with its .json sidecar)")
    p.add_argument("output", type=Path, help=AUDIO_OUTPUT_HELP)
    p.add_argument("--n-iter", dest="n_iter", type=str, help="Griffin-Lim iterations (key 'n_iter')")
    p.add_argument("--momentum", type=str, help="fast Griffin-Lim momentum, 0 = plain (key 'momentum')")
    p.add_argument("--seed", type=str, help="seed of the random initial phase")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None)
    _add_preset_and_set(p)
    p.set_defaults(func=cmd_invert)

    p = sub.add_parser("metrics", help="texture statistics distance and copy score of an output against its style",
                       description="Scores OUTPUT against STYLE: texture-statistics distance (raw, and normalised "
                                   "by the distance between the style's two halves where each is >= 2 s: 1.0 = as "
                                   "close as real audio gets), copy score (near 1 = copying) beside the style's own "
                                   "halves' score, and with --content the content distance, content kept, moved "
                                   "toward the style and the hole depth (dB). Prints a TSV.")
    p.add_argument("output", type=Path, help="synthesized audio")
    p.add_argument("--style", type=Path, required=True, help="the style audio it was made from")
    p.add_argument("--content", type=Path, default=None, help="the content audio, for a style transfer")
    p.add_argument("--sr", default=22050, help="rate both are analysed at (default 22050)")
    p.set_defaults(func=cmd_metrics)

    p = sub.add_parser("presets", help="print every preset's resolved values")
    p.set_defaults(func=cmd_presets)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``audiotex`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except AudiotexError as err:
        print(f"audiotex: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("audiotex: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
