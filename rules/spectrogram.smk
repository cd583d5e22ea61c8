# log1p|STFT| of each decoded clip, once per spectrogram settings (n_fft, hop_length).
rule spectrogram:
    input:
        spec_audio,
    output:
        npy="results/spectrograms/{spec}.npy",
        sidecar="results/spectrograms/{spec}.json",
    log:
        "logs/spectrogram/{spec}.log",
    params:
        settings=spec_settings,
    threads: 1
    conda:
        "../envs/audiotex.yaml"
    script:
        "../scripts/spectrogram.py"
