# Griffin-Lim (+ optional waveform optimisation) back to audio; the .json records how well the audio
# matches. With refine_target=statistics the waveform is optimised against the style (and content)
# spectrograms the sidecar names, so they are inputs too. It can use the GPU, as synthesis does.
rule invert:
    input:
        npy="results/synthesized/{id}.npy",
        sidecar="results/synthesized/{id}.json",
        style=style_spectrogram,
        content=content_spectrogram,
    output:
        wav="results/audio/{id}.wav",
        report="results/audio/{id}.json",
    log:
        "logs/invert/{id}.log",
    params:
        settings=stage_params("invert"),
        device=runtime_param("device"),
    threads: 2
    conda:
        "../envs/audiotex.yaml"
    script:
        "../scripts/invert.py"
