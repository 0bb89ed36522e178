"""demos.common's helpers: numeric-input guards, torch thread counts and the ZeroGPU decorator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch

from demos.common import atomic_image_cache, guard_numeric_inputs, on_gpu, single_threaded, torch_threads

ROOT = Path(__file__).resolve().parents[1]

FAKE_SPACES = '''
"""Stands in for Hugging Face's `spaces` package: GPU marks what it wraps and records the duration."""
import functools

def GPU(task=None, *, duration=None, size=None):
    if task is None:
        return functools.partial(GPU, duration=duration, size=size)

    @functools.wraps(task)
    def wrapper(*args, **kwargs):
        return task(*args, **kwargs)

    wrapper.zerogpu_duration = duration
    return wrapper
'''

MODEL_HANDLERS = {
    "demos.detection": ["detection_view", "detect_endpoint", "ssd_insides", "send_to_nms", "frcnn_insides",
                        "roi_real"],
    "demos.segmentation": ["segment", "segment_scene", "analyse"],
}
"""The handlers that run a network that moves to the GPU when there is one."""

CPU_HANDLERS = {"demos.generative": ["gan_sample", "latent_grid"], "demos.finetune": ["finetune"]}
"""Tiny models that stay on the CPU (faster there than a GPU call's overhead): not decorated."""


def _double(x: int) -> int:
    return 2 * x


def test_on_gpu_returns_the_function_itself_without_spaces():
    if "spaces" in sys.modules or __import__("importlib").util.find_spec("spaces") is not None:
        pytest.fail("the `spaces` package is installed here: this test checks the lab without it")
    assert on_gpu(_double) is _double
    assert on_gpu(duration=5)(_double) is _double


def test_on_gpu_uses_spaces_gpu_where_installed(tmp_path, monkeypatch):
    (tmp_path / "spaces").mkdir()
    (tmp_path / "spaces" / "__init__.py").write_text(FAKE_SPACES)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "spaces", raising=False)
    try:
        wrapped = on_gpu(_double)
        assert wrapped is not _double and wrapped.zerogpu_duration == 30 and wrapped(21) == 42
        assert on_gpu(duration=90)(_double).zerogpu_duration == 90
        assert wrapped.__name__ == "_double"  # Gradio reads the signature and name through functools.wraps
    finally:
        sys.modules.pop("spaces", None)


def test_model_handlers_are_decorated_for_zerogpu(tmp_path):
    """Imported with a `spaces` package present (a fresh interpreter: decoration happens at import)."""
    (tmp_path / "spaces").mkdir()
    (tmp_path / "spaces" / "__init__.py").write_text(FAKE_SPACES)
    script = textwrap.dedent(f"""
        import importlib, json
        handlers = {json.dumps({**MODEL_HANDLERS, **CPU_HANDLERS})}
        print(json.dumps({{f"{{m}}.{{n}}": hasattr(getattr(importlib.import_module(m), n), "zerogpu_duration")
                           for m, names in handlers.items() for n in names}}))
    """)
    path = [str(tmp_path), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    decorated = json.loads(done.stdout.strip().splitlines()[-1])
    expected = {f"{m}.{n}": m in MODEL_HANDLERS for m, names in {**MODEL_HANDLERS, **CPU_HANDLERS}.items()
                for n in names}
    assert decorated == expected


def test_torch_threads_sets_and_restores_the_calling_threads_count():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before

    with pytest.raises(RuntimeError):
        with torch_threads(1):
            raise RuntimeError("a failing request")
    assert torch.get_num_threads() == before


def test_single_threaded_runs_on_one_thread_and_keeps_the_name():
    @single_threaded
    def count_threads(offset: int) -> int:
        """Docstring kept."""
        return torch.get_num_threads() + offset

    assert count_threads(10) == 11
    assert count_threads.__name__ == "count_threads" and count_threads.__doc__ == "Docstring kept."
    seen: list[int] = []
    worker = threading.Thread(target=lambda: seen.append(count_threads(0)))
    worker.start()
    worker.join()
    assert seen == [1]


def test_guard_numeric_inputs_names_the_input_gradio_could_not_convert():
    with gr.Blocks() as demo:
        objects = gr.Slider(1, 12, value=5, step=1, label="objects")
        seed = gr.Number(value=0, precision=0, label="seed")
        opacity = gr.Slider(0.0, 1.0, value=0.5, label="opacity")
        text = gr.Textbox(label="notes")
    original_text_preprocess = text.preprocess
    assert guard_numeric_inputs(demo) == 3
    assert text.preprocess == original_text_preprocess  # only numeric inputs are wrapped

    with pytest.raises(gr.Error, match=r"objects must be a whole number between 1 and 12, got None"):
        objects.preprocess(None)
    with pytest.raises(gr.Error, match=r"seed must be a whole number, got nan"):
        seed.preprocess(float("nan"))
    with pytest.raises(gr.Error, match=r"opacity must be a number between 0 and 1, got 'x'"):
        opacity.preprocess("x")
    with pytest.raises(gr.Error, match=r"Value 13 is greater than maximum value 12"):  # Gradio's own range message, unchanged
        objects.preprocess(13)
    assert objects.preprocess(7) == 7 and seed.preprocess(3.0) == 3 and opacity.preprocess(0.25) == 0.25
    assert seed.preprocess(None) is None  # an empty Number is the handler's business


def test_atomic_image_cache_writes_a_picture_once_and_whole(tmp_path):
    from gradio import processing_utils
    from PIL import Image

    atomic_image_cache()
    atomic_image_cache()  # idempotent
    assert processing_utils.save_pil_to_cache.atomic
    picture = Image.fromarray(np.arange(64 * 48 * 3, dtype=np.uint8).reshape(48, 64, 3))
    first = Path(processing_utils.save_pil_to_cache(picture, str(tmp_path), format="png"))
    inode = first.stat().st_ino
    again = Path(processing_utils.save_pil_to_cache(picture, str(tmp_path), format="png"))
    assert again == first and first.stat().st_ino == inode  # not rewritten: a download in flight stays whole
    assert first.parent.parent == tmp_path.resolve() and first.name == "image.png"
    np.testing.assert_array_equal(np.asarray(Image.open(first)), np.asarray(picture))
    assert not list(first.parent.glob("*.part"))
    other = Path(processing_utils.save_img_array_to_cache(np.zeros((8, 8, 3), np.uint8), str(tmp_path), "png"))
    assert other.parent != first.parent and other.exists()


def test_cached_pngs_are_lossless_at_the_fast_zlib_level(tmp_path):
    """Issue 19: PNGs go to the browser at zlib level `PNG_COMPRESS_LEVEL` (1), not Pillow's 6: the same pixels,
    the same bytes as Pillow's own level-1 encoder, larger than level 6 on a noisy picture."""
    import io
    import zlib

    from gradio import processing_utils
    from PIL import Image

    from demos.common import PNG_COMPRESS_LEVEL, encode_picture

    assert PNG_COMPRESS_LEVEL == 1
    noisy = Image.fromarray(np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8))
    data = encode_picture(noisy, "png")
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), np.asarray(noisy))
    reference = io.BytesIO()
    noisy.save(reference, "png", compress_level=1)
    assert data == reference.getvalue()
    idat = data[data.index(b"IDAT") + 4:]
    assert zlib.decompressobj().decompress(idat[:20000])  # a valid zlib stream
    assert encode_picture(noisy, "webp") == processing_utils.encode_pil_to_bytes(noisy, "webp")
    atomic_image_cache()
    cached = Path(processing_utils.save_pil_to_cache(noisy, str(tmp_path), format="png"))
    assert cached.read_bytes() == data
