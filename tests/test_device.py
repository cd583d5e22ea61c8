"""Key ``device``: auto, cpu, cuda, and a clear error naming the key when the GPU is not there."""
import pytest
import torch

from audiotex.device import resolve_device
from audiotex.errors import AudiotexError


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


@pytest.fixture
def one_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


def test_auto_is_cpu_without_a_gpu_and_cuda_with_one(no_gpu, monkeypatch):
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


def test_a_torch_device_is_checked_like_its_name(no_gpu):
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(AudiotexError, match="key 'device'.*no CUDA device"):
        resolve_device(torch.device("cuda"))


@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_cuda_without_a_gpu_names_the_key(no_gpu, name):
    with pytest.raises(AudiotexError, match="key 'device'.*no CUDA device"):
        resolve_device(name)


def test_a_gpu_index_beyond_those_present_names_the_key(one_gpu):
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(AudiotexError, match=r"key 'device': 'cuda:3'.*only 1 CUDA device"):
        resolve_device("cuda:3")


def test_a_name_torch_does_not_know_names_the_key():
    with pytest.raises(AudiotexError, match="key 'device': 'gpu' is not a torch device"):
        resolve_device("gpu")


def test_synthesize_file_on_cuda_without_a_gpu_fails_before_any_work(no_gpu, tmp_path):
    """The step reports the key at fault (a raw torch error would come from deep in the loop)."""
    from pathlib import Path

    from audiotex import steps

    demo = Path(__file__).resolve().parents[1] / "data" / "demo"
    spec = tmp_path / "s.npy"
    steps.spectrogram_file(demo / "sp_arctic_a0009.wav", spec, {"sr": 8000, "n_fft": 256, "input_duration": 1.0})
    with pytest.raises(AudiotexError, match="key 'device'"):
        steps.synthesize_file(spec, None, tmp_path / "o.npy", {"iterations": 2, "layers": "5x8"}, device="cuda")
    assert not (tmp_path / "o.npy").exists()


def test_exact_convolutions_turns_tf32_and_nondeterminism_off_and_restores_them():
    from audiotex.device import exact_convolutions

    cudnn = torch.backends.cudnn
    before = (cudnn.allow_tf32, cudnn.deterministic, cudnn.benchmark, cudnn.enabled)
    with exact_convolutions():
        assert not cudnn.allow_tf32 and cudnn.deterministic and not cudnn.benchmark
        assert cudnn.enabled == before[3]
        if hasattr(cudnn, "conv"):  # torch >= 2.9 decides by the per-op precision
            assert cudnn.conv.fp32_precision == "ieee"
    assert (cudnn.allow_tf32, cudnn.deterministic, cudnn.benchmark, cudnn.enabled) == before


def _record_convolution_flags(monkeypatch, module):
    """Wrap ``module.bank_features`` to record cuDNN's TF32 flag at every call."""
    seen = []
    original = module.bank_features

    def recording(*args, **kwargs):
        seen.append(torch.backends.cudnn.allow_tf32)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, "bank_features", recording)
    return seen


def test_both_optimisations_and_their_targets_run_with_exact_convolutions(monkeypatch):
    """Style targets and every evaluation: a GPU would otherwise compute them in TF32 (10 mantissa bits)."""
    import numpy as np

    from audiotex import synthesis
    from audiotex.params import resolve, stage_settings

    torch.backends.cudnn.allow_tf32 = True  # torch's default, set here so that the test cannot pass by chance
    seen = _record_convolution_flags(monkeypatch, synthesis)
    rng = np.random.default_rng(0)
    style = np.abs(rng.standard_normal((33, 40))).astype(np.float32)
    settings = stage_settings(resolve({"iterations": 2, "layers": "5x8", "init": "noise"}), "synthesize")
    synthesis.synthesize(style, None, n_frames=40, settings=settings, device="auto")
    y0 = rng.standard_normal(64 * 39).astype(np.float32) * 0.1
    synthesis.synthesize_waveform(y0, style, None, n_fft=64, hop_length=64, settings=settings, iterations=2,
                                  device="auto")
    assert len(seen) > 4 and not any(seen)
    assert torch.backends.cudnn.allow_tf32


def test_griffin_lim_takes_a_tensor_and_auto():
    import numpy as np

    from audiotex.inversion import griffin_lim

    magnitude = np.abs(np.random.default_rng(0).standard_normal((33, 20))).astype(np.float32)
    from_array = griffin_lim(magnitude, 64, 16, n_iter=3, device="cpu")
    from_tensor = griffin_lim(torch.from_numpy(magnitude).double(), 64, 16, n_iter=3, device="auto")
    np.testing.assert_array_equal(from_array, from_tensor)
