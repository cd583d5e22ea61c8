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


def test_a_torch_device_passes_through():
    device = torch.device("cpu")
    assert resolve_device(device) is device


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
