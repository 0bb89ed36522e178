"""Hostile and odd inputs sent through gradio_client to every endpoint that takes an image (issue 10).

Table-driven: `ENDPOINTS` says how to call each image endpoint with an upload (or with none: the normal request)
and how to check a good result; `FILES` says what each test file must give (a clear message, or an image of a
known size and colour). `CASES` pairs them: every endpoint gets the bad files and a few odd modes, the full set
goes to /augment and /make_scene. A later tab adds its endpoint by appending one `Endpoint` and one `CASES` line.

`INPUT_CASES` does the same for the other inputs (numbers, lists typed as text, JSON, tables).

Run alone with `LAB_TABS=demos.augmentation,demos.anchors,demos.nms,demos.dataset pytest tests/test_hostile_inputs.py`
(rows whose tab is not built are skipped with that reason).
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import httpx
import numpy as np
import pytest
from gradio_client import handle_file
from PIL import Image

import app
from core.data import augment as aug
from core.data.images import load_image
from core.data.scenes import DEFAULT_SIZE, make_scene

pytestmark = pytest.mark.filterwarnings("ignore:Got processor for bboxes")

GENERIC = "upstream Gradio app has raised an exception"
"""What gradio_client says when a handler crashed (show_error=False): never acceptable for a user's input."""

# --- the files --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    """The upload must be refused with a message containing `message`."""

    message: str


@dataclass(frozen=True)
class Good:
    """The upload must work: shown as (H, W) `size` before any downscale, of about `colour` everywhere."""

    size: tuple[int, int]
    colour: tuple[int, int, int]
    notice: str | None = None


def _jpeg_bytes(image: Image.Image, **kwargs: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", **kwargs)
    return buffer.getvalue()


def _write_truncated(path: Path) -> None:
    photo = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = _jpeg_bytes(Image.fromarray(photo))
    path.write_bytes(data[: len(data) // 2])


def _write_palette(path: Path) -> None:
    image = Image.new("P", (120, 80), 0)  # every pixel is index 0, which is transparent (and black)
    image.putpalette([0, 0, 0, 10, 200, 30] + [0] * (254 * 3))
    image.save(path, transparency=0)


def _write_exif_rotated(path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 160 wide x 80 high; shown rotated by 90 degrees: 80 wide x 160 high
    path.write_bytes(_jpeg_bytes(Image.new("RGB", (160, 80), (0, 0, 255)), exif=exif.tobytes()))


def _write_animated(path: Path) -> None:
    frames = [Image.new("RGB", (120, 80), colour) for colour in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)


FILES: dict[str, tuple[Callable[[Path], None], Bad | Good]] = {
    # refused, with our message
    "empty.png": (lambda p: p.write_bytes(b""), Bad("empty")),
    "text.png": (lambda p: p.write_text("these are lecture notes, not a picture\n"), Bad("not an image")),
    "truncated.jpg": (_write_truncated, Bad("truncated or corrupt")),
    # 8000 x 6000 = 48 MP > 40 MP, a few kB on disk: refused from the header, before decoding
    "bomb_48mp.png": (lambda p: Image.new("1", (8000, 6000)).save(p), Bad("too large")),
    # odd but valid
    "gray.png": (lambda p: Image.new("L", (120, 80), 90).save(p), Good((80, 120), (90, 90, 90))),
    # half-transparent red composited on white
    "rgba.png": (lambda p: Image.new("RGBA", (120, 80), (255, 0, 0, 128)).save(p), Good((80, 120), (255, 127, 127))),
    # transparent palette entry is black: white when transparency is honoured, black when it is not
    "palette_transparent.png": (_write_palette, Good((80, 120), (255, 255, 255))),
    # 32896 / 65535 is mid-grey: 128, not the 255 that clipping to 8 bits gives
    "gray16.png": (lambda p: Image.fromarray(np.full((80, 120), 32896, np.uint16)).save(p),
                   Good((80, 120), (128, 128, 128))),
    "cmyk.jpg": (lambda p: Image.new("CMYK", (120, 80), (0, 255, 255, 0)).save(p), Good((80, 120), (255, 0, 0))),
    "exif_rotated.jpg": (_write_exif_rotated, Good((160, 80), (0, 0, 255))),
    "animated.gif": (_write_animated, Good((80, 120), (255, 0, 0), notice="first frame")),
    # 15 MP phone photo: accepted, downscaled to the tab's working size with a notice
    "large_5000x3000.jpg": (lambda p: Image.new("RGB", (5000, 3000), (100, 150, 200)).save(p, quality=90),
                            Good((3000, 5000), (100, 150, 200), notice="Downscaled")),
}


def _write_la(path: Path) -> None:
    Image.new("LA", (120, 80), (0, 128)).save(path)  # black at half opacity: mid-grey on white


def _write_bilevel(path: Path) -> None:
    Image.new("1", (120, 80), 0).save(path)  # 1-bit, every pixel black


def _write_i16(path: Path) -> None:
    image = Image.new("I;16", (120, 80))
    image.frombytes(np.full((80, 120), 16448, "<u2").tobytes())  # 16448 / 65535 = a quarter: 64
    image.save(path)


FILES.update({
    "la.png": (_write_la, Good((80, 120), (127, 127, 127))),
    "bilevel.png": (_write_bilevel, Good((80, 120), (0, 0, 0))),
    "i16.png": (_write_i16, Good((80, 120), (64, 64, 64))),
})

COLOUR_FILES = ["cmyk.jpg", "gray16.png", "i16.png", "palette_transparent.png", "la.png", "bilevel.png"]
"""Issue 19: odd colour modes, each with its colour computed by hand (`Good.colour`): CMYK red, 16-bit greys scaled
(not clipped), a transparent palette entry and a half-transparent grey composited on white, 1-bit black."""

BAD_FILES = [name for name, (_, expect) in FILES.items() if isinstance(expect, Bad)]
GOOD_FILES = [name for name, (_, expect) in FILES.items() if isinstance(expect, Good)]


@pytest.fixture(scope="session")
def hostile_files(tmp_path_factory) -> dict[str, Path]:
    """Every file of `FILES`, written once per session."""
    folder = tmp_path_factory.mktemp("hostile")
    paths = {}
    for name, (write, _) in FILES.items():
        write(folder / name)
        paths[name] = folder / name
    assert paths["bomb_48mp.png"].stat().st_size < 100_000
    return paths


# --- the endpoints ----------------------------------------------------------------------------------------


def _picture(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _median_colour(pixels: np.ndarray) -> np.ndarray:
    return np.median(pixels.reshape(-1, 3), axis=0)


def _assert_colour(pixels: np.ndarray, colour: tuple[int, int, int], tolerance: float) -> None:
    median = _median_colour(pixels)
    assert np.abs(median - np.array(colour)).max() <= tolerance, (median.tolist(), colour)


FLIP = json.dumps(aug.pipeline_dict([aug.make_step("HorizontalFlip", {"p": 1.0})]))
"""Keeps the upload's size: the gallery image is the mirrored upload."""
SCENE = "shapes (exact boxes and mask)"
NMS_SIZE = (240, 160)
NMS_JSON = json.dumps({"image_size": list(NMS_SIZE), "candidates": [[110, 70, 130, 90, 0.9, 0]]})
"""One small box in the middle of a 240 x 160 picture: the corners show the uploaded background."""
UPLOADED = "uploaded / sent image"
SAMPLE = "chelsea"
ANCHOR_SIZE = 800
BOX_TABLE = {"headers": ["label", "x1", "y1", "x2", "y2"], "data": [["a", 10.0, 10.0, 40.0, 30.0]], "metadata": None}
CENTER_TABLE = {"headers": ["label", "cx", "cy", "w", "h"], "data": [["a", 25.0, 20.0, 30.0, 20.0]], "metadata": None}
GT_TABLE = {"headers": ["class", "x1", "y1", "x2", "y2"], "data": [[0, 0.1, 0.08, 0.52, 0.92]], "metadata": None}
ANCHOR_TABLE = {"headers": ["x1", "y1", "x2", "y2"], "data": [[0.0, 0.1, 0.2, 0.3], [0.15, 0.2, 0.5, 0.9]],
                "metadata": None}


def _check_augment(gallery: list, drawn: dict, expected: np.ndarray, expect: Good) -> None:
    assert drawn["output_size"] == list(expected.shape[:2])
    picture = _picture(gallery[0]["image"])
    assert picture.shape == expected.shape
    assert np.abs(picture.astype(int) - expected[:, ::-1].astype(int)).mean() < 6  # JPEG gallery
    _assert_colour(picture, expect.colour, 12)


def _check_make_scene(result: tuple, expected: np.ndarray, expect: Good, seed: int = 1) -> None:
    image_path, annotations, mask_path = result
    image, mask = _picture(image_path), np.asarray(Image.open(mask_path))
    scene = make_scene(seed, background=expected)
    np.testing.assert_array_equal(image, scene.image)
    np.testing.assert_array_equal(mask, scene.mask)
    assert annotations == scene.annotations()
    _assert_colour(image[mask == 0], expect.colour, 12)


def _check_dataset_grid(result: tuple, expected: np.ndarray, expect: Good) -> None:
    stats = result[3]
    scene = make_scene(0, size=DEFAULT_SIZE, background=expected)
    assert stats["scenes"][0]["annotations"] == scene.annotations()


def _check_nms(result: tuple, expected: np.ndarray, expect: Good) -> None:
    picture = _picture(result[0])
    width = round(NMS_SIZE[0] * 820 / max(NMS_SIZE))
    assert picture.shape[1] == width  # drawn at the boxes' size, scaled to the drawing side
    assert "your image" in result[3]
    _assert_colour(picture[:60, :60], expect.colour, 12)


def _check_picture_size(index: int) -> Callable[[Any, np.ndarray, Good], None]:
    def check(result: tuple, expected: np.ndarray, expect: Good) -> None:
        assert _picture(result[index]).shape[:2] == expected.shape[:2]

    return check


def _check_cyclegan(result: tuple, expected: np.ndarray, expect: Good) -> None:
    """CycleGAN works at its own size: the upload's aspect ratio is kept and the cycle loss is a number."""
    numbers = result[1]
    width, height = numbers["size"]
    assert abs(width / height - expected.shape[1] / expected.shape[0]) < 0.05, ((height, width), expected.shape)
    assert 0.0 <= numbers["cycle_loss"] < 2.0


def _check_aspect(index: int) -> Callable[[Any, np.ndarray, Good], None]:
    """For pictures drawn at a display size: the image's aspect ratio is kept (rotations applied, not stretched)."""

    def check(result: tuple, expected: np.ndarray, expect: Good) -> None:
        height, width = _picture(result[index]).shape[:2]
        assert abs(width / height - expected.shape[1] / expected.shape[0]) < 0.02, ((height, width), expected.shape)

    return check


def _check_rcnn_family(result: dict, expected: np.ndarray, expect: Good) -> None:
    """The three models answered on the upload; every box lies in the upload's pixels."""
    assert set(result) == {"rcnn", "fast_rcnn", "faster_rcnn"}
    height, width = expected.shape[:2]
    for item in result.values():
        assert item["proposals"] >= 0 and set(item["seconds"]) == {"proposals", "features", "classify", "nms"}
        for record in item["detections"]:
            x1, y1, x2, y2 = record["box"]
            assert 0 <= x1 <= x2 <= width and 0 <= y1 <= y2 <= height


def _check_segment(result: tuple, expected: np.ndarray, expect: Good) -> None:
    overlay, class_map = _picture(result[0]), np.asarray(Image.open(result[1]))
    assert overlay.shape == expected.shape
    assert class_map.shape == expected.shape[:2]  # the class map PNG has the input image's size


@dataclass(frozen=True)
class Endpoint:
    """An image endpoint: how to call it with an upload (`None`: the normal request) and how to check it."""

    module: str
    args: Callable[[Any], tuple]
    max_side: int | None
    check: Callable[[Any, np.ndarray, Good], None]
    notices: bool = True
    """False where the tab caches decoded uploads (a repeated upload shows its notice only once)."""
    needs_image: bool = False
    """True where the normal request needs an image too (it then sends gray.png)."""


def _median_of(index: int, region: Callable[[np.ndarray], np.ndarray] = lambda p: p) -> Callable[[Any], np.ndarray]:
    """The pixels of output `index` (a region of them) that show the upload's own colours."""
    return lambda result: region(_picture(result[index]))


def _scene_background(result: tuple) -> np.ndarray:
    image, mask = _picture(result[0]), np.asarray(Image.open(result[2]))
    return image[mask == 0]


SHOWS_UPLOAD: dict[str, Callable[[Any], np.ndarray] | None] = {
    "/augment": lambda r: _picture(r[0][0]["image"]),
    "/augmentation_run": lambda r: _picture(r[0][0]["image"]),
    "/make_scene": _scene_background,
    "/dataset_grid": None,  # small scenes with pasted objects and drawn boxes: the colour is checked by /make_scene
    "/nms_run": _median_of(0, lambda p: p[:60, :60]),
    "/boxes_convert": _median_of(0),
    "/boxes_convert_center": _median_of(0),
    "/anchors_at_pixel": _median_of(0),  # faded: see FADED
    "/anchors_grid": _median_of(0),
    "/anchors_label": _median_of(0),
    "/detect": _median_of(0),
    "/detection_view": _median_of(0),
    "/segment": None,  # the prediction's class colour is blended over the picture
    "/segment_scene": None,
    "/cyclegan_translate": None,  # the picture is translated (day -> night): its colours change by design
    "/rcnn_family": None,  # JSON only (three models' detections and timings): no picture to sample
}
"""Where each image endpoint shows the uploaded pixels unchanged (median colour), or None where its picture
changes them by design (then the request must still succeed and keep the upload's aspect ratio)."""

FADED = {"/anchors_at_pixel", "/anchors_grid", "/anchors_label"}
"""Endpoints that draw the upload washed towards white (so that the anchors drawn over it stand out): the colour
expected is then a + (1 - a) * 255 for one factor a in [0.5, 1) shared by the three channels."""


def _assert_faded_colour(pixels: np.ndarray, colour: tuple[int, int, int], tolerance: float) -> None:
    median = _median_colour(pixels)
    expected = np.array(colour, dtype=float)
    dark = expected < 200  # channels where a wash shows
    if not dark.any():
        _assert_colour(pixels, colour, tolerance)
        return
    kept = (255 - median[dark]) / (255 - expected[dark])  # the factor a, per channel
    factor = float(np.median(kept))
    assert 0.5 <= factor < 1.0 + tolerance / 255, (median.tolist(), colour, factor)
    washed = factor * expected + (1 - factor) * 255
    assert np.abs(median - washed).max() <= tolerance, (median.tolist(), colour, factor)


ENDPOINTS: dict[str, Endpoint] = {
    "/augment": Endpoint("demos.augmentation", lambda f: (f, FLIP, 1, 0), 1024,
                         lambda r, e, x: _check_augment(*r, e, x)),
    "/augmentation_run": Endpoint("demos.augmentation", lambda f: (SCENE, f, "", FLIP, 1, 0), 1024,
                                  lambda r, e, x: _check_augment(r[0], r[3], e, x)),
    "/make_scene": Endpoint("demos.dataset", lambda f: (1, f), 1024, _check_make_scene),
    "/dataset_grid": Endpoint("demos.dataset", lambda f: (0, 1, "any", 0.5, f), 1024, _check_dataset_grid),
    "/nms_run": Endpoint("demos.nms", lambda f: (NMS_JSON, 0.0, 0.5, False, 300, UPLOADED, f), 820, _check_nms),
    "/boxes_convert": Endpoint("demos.anchors", lambda f: (f, SAMPLE, BOX_TABLE), ANCHOR_SIZE, _check_picture_size(0),
                               notices=False),
    "/boxes_convert_center": Endpoint("demos.anchors", lambda f: (f, SAMPLE, CENTER_TABLE), ANCHOR_SIZE,
                                      _check_picture_size(0), notices=False),
    "/anchors_at_pixel": Endpoint("demos.anchors", lambda f: (f, SAMPLE, "0.5", "1, 2", 10, 10), ANCHOR_SIZE,
                                  _check_picture_size(0), notices=False),
    "/anchors_grid": Endpoint("demos.anchors", lambda f: (f, SAMPLE, 2, 2, "0.5", "1"), ANCHOR_SIZE,
                              _check_picture_size(0), notices=False),
    "/anchors_label": Endpoint("demos.anchors", lambda f: (GT_TABLE, ANCHOR_TABLE, 0.5, 2, f, SAMPLE), ANCHOR_SIZE,
                               _check_picture_size(0), notices=False),
    "/detect": Endpoint("demos.detection", lambda f: (f, "ssd", 0.4, 0.5), 1024, _check_picture_size(0),
                        needs_image=True),
    "/detection_view": Endpoint("demos.detection", lambda f: ("photo", 0, "coffee", f, "ssd", 0.4, 0.5),
                                1024, _check_aspect(0)),
    "/segment": Endpoint("demos.segmentation", lambda f: (f, "fcn"), 2048, _check_segment, needs_image=True),
    "/segment_scene": Endpoint("demos.segmentation", lambda f: (3, f, "fcn"), 1024, _check_picture_size(0)),
    "/cyclegan_translate": Endpoint("demos.generative", lambda f: (f, "A->B"), 2048, _check_cyclegan,
                                    needs_image=True),
    "/rcnn_family": Endpoint("demos.detection", lambda f: (f,), 1024, _check_rcnn_family, needs_image=True),
}

CASES: list[tuple[str, list[str]]] = [
    ("/cyclegan_translate", BAD_FILES + ["rgba.png", "exif_rotated.jpg", "cmyk.jpg"]),
    ("/augment", BAD_FILES + GOOD_FILES),
    ("/make_scene", BAD_FILES + GOOD_FILES),
    ("/augmentation_run", BAD_FILES + ["rgba.png", "animated.gif"]),
    ("/dataset_grid", BAD_FILES + ["exif_rotated.jpg", "gray16.png"]),
    ("/nms_run", BAD_FILES + ["gray16.png", "palette_transparent.png", "large_5000x3000.jpg"]),
    ("/boxes_convert", BAD_FILES + ["gray16.png", "rgba.png"]),
    ("/boxes_convert_center", BAD_FILES + ["palette_transparent.png", "animated.gif"]),
    ("/anchors_at_pixel", BAD_FILES + ["exif_rotated.jpg", "cmyk.jpg", "large_5000x3000.jpg"]),
    ("/anchors_grid", BAD_FILES + ["cmyk.jpg", "gray.png"]),
    ("/anchors_label", BAD_FILES + ["rgba.png", "exif_rotated.jpg"]),
    ("/detect", BAD_FILES + ["exif_rotated.jpg", "rgba.png", "large_5000x3000.jpg"]),
    ("/detection_view", BAD_FILES + ["gray16.png", "exif_rotated.jpg"]),
    ("/segment", BAD_FILES + ["cmyk.jpg", "exif_rotated.jpg"]),
    ("/segment_scene", BAD_FILES + ["palette_transparent.png", "large_5000x3000.jpg"]),
    ("/rcnn_family", BAD_FILES + ["gray.png", "cmyk.jpg"]),
]
"""(endpoint, files it gets). Every endpoint: all the bad files and at least two odd modes."""


def _require_tab(module: str) -> None:
    """Skip only when a developer restricted the app with LAB_TABS; in a full run a missing tab fails."""
    if module not in app.tab_modules():
        if not os.environ.get("LAB_TABS"):
            pytest.fail(f"{module} is listed in demos.TAB_MODULES but not built")
        pytest.skip(f"{module} is not built in this run (LAB_TABS)")


def predict_with_notices(client, api_name: str, *args: Any) -> tuple[Any, list[str]]:
    """`client.predict`, plus the gr.Info/gr.Warning texts the request showed."""
    job = client.submit(*args, api_name=api_name)
    result = job.result(timeout=120)
    notices = []
    updates = job.communicator.updates
    while not updates.empty():
        update = updates.get_nowait()
        if getattr(update, "log", None):
            notices.append(update.log[0])
    return result, notices


def expect_message(client, api_name: str, args: tuple, fragment: str) -> str:
    with pytest.raises(Exception) as error:
        client.predict(*args, api_name=api_name)
    message = str(error.value)
    assert GENERIC not in message, f"{api_name}: a crash instead of a message"
    assert "Traceback" not in message and 'File "' not in message
    assert fragment.lower() in message.lower(), message
    return message


@pytest.mark.parametrize(
    "api_name, file_name", [(api_name, name) for api_name, names in CASES for name in names],
    ids=[f"{api_name.strip('/')}-{name}" for api_name, names in CASES for name in names],
)
def test_image_endpoint(client, hostile_files, api_name, file_name):
    endpoint = ENDPOINTS[api_name]
    _require_tab(endpoint.module)
    path = hostile_files[file_name]
    expect = FILES[file_name][1]
    args = endpoint.args(handle_file(str(path)))
    if isinstance(expect, Bad):
        expect_message(client, api_name, args, expect.message)
        return
    result, notices = predict_with_notices(client, api_name, *args)
    loaded = load_image(path, max_side=endpoint.max_side)  # what the tab must have worked on
    height, width = expect.size
    assert loaded.array.shape[:2] == (height, width) or max(loaded.array.shape[:2]) == endpoint.max_side
    endpoint.check(result, loaded.array, expect)
    if expect.notice and endpoint.notices:
        assert any(expect.notice.lower() in n.lower() for n in notices), notices


@pytest.mark.parametrize("api_name", [api_name for api_name, _ in CASES])
def test_still_serving_after_the_hostile_files(client, hostile_files, api_name):
    """Runs after `test_image_endpoint` (pytest keeps the file's order): the normal request still works."""
    endpoint = ENDPOINTS[api_name]
    _require_tab(endpoint.module)
    image = handle_file(str(hostile_files["gray.png"])) if endpoint.needs_image else None
    result = client.predict(*endpoint.args(image), api_name=api_name)
    assert result is not None and (result if isinstance(result, dict) else result[0])  # one JSON output, or several


@pytest.mark.parametrize(
    "api_name, file_name", [(api_name, name) for api_name in ENDPOINTS for name in COLOUR_FILES],
    ids=[f"{api_name.strip('/')}-{name}" for api_name in ENDPOINTS for name in COLOUR_FILES],
)
def test_odd_colour_modes_on_every_image_endpoint(client, hostile_files, api_name, file_name):
    """Every image endpoint takes every odd colour mode; where its picture shows the upload, the colour is the
    hand-computed one (not the clipped, inverted or black-background colour a naive conversion gives)."""
    endpoint = ENDPOINTS[api_name]
    _require_tab(endpoint.module)
    expect = FILES[file_name][1]
    result = client.predict(*endpoint.args(handle_file(str(hostile_files[file_name]))), api_name=api_name)
    assert result is not None
    sampler = SHOWS_UPLOAD[api_name]
    if sampler is not None:
        check = _assert_faded_colour if api_name in FADED else _assert_colour
        check(sampler(result).reshape(-1, 3), expect.colour, 14)


def test_every_image_endpoint_says_where_it_shows_the_upload():
    assert set(SHOWS_UPLOAD) == set(ENDPOINTS)


IMAGE_COMPONENTS = {"Image", "Uploadbutton", "Imageeditor"}


def test_every_image_endpoint_of_the_app_is_in_the_table(client):
    """A tab that adds an image input without a row here fails this test (its endpoint is listed by the API)."""
    info = client.view_api(return_format="dict", print_info=False)
    image_endpoints = {
        name for name, endpoint in info["named_endpoints"].items()
        if any(p["component"] in IMAGE_COMPONENTS for p in endpoint["parameters"])
    }
    missing = image_endpoints - set(ENDPOINTS)
    assert not missing, f"add rows to ENDPOINTS/CASES for {sorted(missing)}"
    for api_name, names in CASES:
        assert set(BAD_FILES) <= set(names), api_name
        assert len([n for n in names if n in GOOD_FILES]) >= 2, api_name


# --- every other input ------------------------------------------------------------------------------------

BIG_RESIZE = json.dumps(aug.pipeline_dict([aug.make_step("Resize", {"height": 2048, "width": 2048})]))


@dataclass(frozen=True)
class InputCase:
    """An endpoint called with `args` must answer with a message containing `message`."""

    module: str
    api_name: str
    args: tuple
    message: str
    raw: bool = False
    """Send `args` (JSON text with NaN/Infinity) over plain HTTP: gradio_client cannot encode them."""
    marks: tuple = field(default=())


INPUT_CASES: list[InputCase] = [
    # Augmentation
    InputCase("demos.augmentation", "/augment", (None, 123, 1, 0), "must be JSON text"),
    InputCase("demos.augmentation", "/augment", (None, [1, 2], 1, 0), "must be JSON text"),
    InputCase("demos.augmentation", "/augment", (None, "{", 1, 0), "json"),
    InputCase("demos.augmentation", "/augment", (None, '{"transform": {"__class_fullname__": "Nope"}}', 1, 0),
              "Nope"),
    InputCase("demos.augmentation", "/augment", (None, BIG_RESIZE, 16, 0), "megapixels"),
    InputCase("demos.augmentation", "/augment", (None, FLIP, 17, 0), "maximum"),
    InputCase("demos.augmentation", "/augment", (None, FLIP, 1, 2**31), "seed"),
    InputCase("demos.augmentation", "/augmentation_run", (SCENE, None, "1, 2, 3", FLIP, 1, 0), "line 1"),
    InputCase("demos.augmentation", "/augmentation_run", (SCENE, None, "nan, 0, 5, 5, a", FLIP, 1, 0), "finite"),
    InputCase("demos.augmentation", "/augmentation_run", (SCENE, None, "1, 1, 5, 5\n" * 40, FLIP, 1, 0), "at most"),
    # Detection dataset
    InputCase("demos.dataset", "/dataset_grid", (10**6, 4, "test", 0.5, None), "past its end"),
    InputCase("demos.dataset", "/dataset_grid", (0, 17, "any", 0.5, None), "maximum"),
    InputCase("demos.dataset", "/dataset_grid", "[0, 1, \"any\", NaN, null]", "opacity", raw=True),
    InputCase("demos.dataset", "/make_scene", (-1, None), "minimum"),
    InputCase("demos.dataset", "/make_scene", "[NaN, null]", "seed", raw=True),
    # NMS
    InputCase("demos.nms", "/nms_run", ('{"candidates": [[0, 0, 1, 1, "nan", 0]]}', 0.0, 0.5, False, 300), "finite"),
    InputCase("demos.nms", "/nms_run", ('{"candidates": [[0, 0, 1, 1, 0.5, 0]], "image_size": [1e9, 1]}', 0.0, 0.5,
                                        False, 300), "image_size"),
    InputCase("demos.nms", "/nms_run", (json.dumps([[0, 0, 9, 9, 0.5, 0]] * 301), 0.0, 0.5, False, 300),
              "too many"),
    InputCase("demos.nms", "/nms_run", ("[]", 0.0, 0.5, False, 300), "no candidate"),
    InputCase("demos.nms", "/nms_run", ('{"candidates": "x"}', 0.0, 0.5, False, 300), "must be a list"),
    InputCase("demos.nms", "/nms_run", ('[[5, 5, 1, 1, 0.5, 0]]', 0.0, 0.5, False, 300), "x1 <= x2"),
    InputCase("demos.nms", "/nms_run", ('[[0, 0, 1, 1, 1.5, 0]]', 0.0, 0.5, False, 300), "[0, 1]"),
    InputCase("demos.nms", "/nms_run", ('[[0, 0, 1, 1, 0.5, 1e20]]', 0.0, 0.5, False, 300), "too large"),
    InputCase("demos.nms", "/nms_run", f'["[[0, 0, 1, 1, 0.5, 0]]", NaN, 0.5, false, 300, "{UPLOADED}", null]',
              "score threshold must be a number", raw=True),
    InputCase("demos.nms", "/nms_run", '["[[0, 0, 1, 1, 0.5, 0]]", 0.0, 0.5, false, NaN, "neutral canvas", null]',
              "nan", raw=True),
    InputCase("demos.nms", "/nms_clutter", (0, None, 4, 3), "objects"),
    # Anchors & IoU
    InputCase("demos.anchors", "/anchors_iou", ("nan, 0, 1, 1", "0, 0, 1, 1"), "finite"),
    InputCase("demos.anchors", "/anchors_iou", ("0, 0, 1e9, 1", "0, 0, 1, 1"), "1000"),
    InputCase("demos.anchors", "/anchors_iou", ("", "0, 0, 1, 1"), "box a"),
    InputCase("demos.anchors", "/anchors_at_pixel", (None, SAMPLE, "0, -1", "1", 10, 10), "greater than 0"),
    InputCase("demos.anchors", "/anchors_at_pixel", (None, SAMPLE, "0.5", "1, " * 100, 10, 10), "between 1 and 10"),
    InputCase("demos.anchors", "/anchors_at_pixel", (None, SAMPLE, "0.5", "1", 10**6, 10), "outside"),
    InputCase("demos.anchors", "/anchors_grid", (None, SAMPLE, 2, 2, "inf", "1"), "finite"),
    InputCase("demos.anchors", "/anchors_label", (dict(GT_TABLE, data=[[0, 0.1, 0.1, 0.5, 0.5]] * 100), ANCHOR_TABLE,
                                                  0.5, 2, None, SAMPLE), "at most"),
    InputCase("demos.anchors", "/anchors_label", (GT_TABLE, dict(ANCHOR_TABLE, data=[["x", 0, 1, 1]]), 0.5, 2, None,
                                                  SAMPLE), "anchor row 1"),
    InputCase("demos.anchors", "/anchors_label",
              f'[{json.dumps(GT_TABLE)}, {json.dumps(ANCHOR_TABLE)}, NaN, 2, null, "{SAMPLE}"]', "IoU threshold",
              raw=True),
    InputCase("demos.anchors", "/boxes_convert", (None, SAMPLE, dict(BOX_TABLE, data=[["a", 9, 9, 1, 1]])), "x1"),
    InputCase("demos.anchors", "/anchors_at_pixel", f'[null, "{SAMPLE}", "0.5", "1", NaN, 10]', "x", raw=True),
    # Transposed convolution
    InputCase("demos.transposed_conv", "/transposed_conv", ("1 2\n3", "1", 1, 0, 0), "row"),
    InputCase("demos.transposed_conv", "/transposed_conv", ("1 x", "1", 1, 0, 0), "x"),
    InputCase("demos.transposed_conv", "/transposed_conv", ("nan", "1", 1, 0, 0), "finite"),
    InputCase("demos.transposed_conv", "/transposed_conv", ("1", "1", 1, 0, 5), "output"),
    InputCase("demos.transposed_conv", "/transposed_conv", ("\n".join([" ".join(["1"] * 200)] * 200), "1", 1, 0, 0),
              "at most"),
]


def _raw_call(app_url: str, api_name: str, body: str) -> str:
    """POST `{"data": body}` to /gradio_api/call/<name> and return the error message streamed back ("" if none)."""
    response = httpx.post(f"{app_url}gradio_api/call{api_name}", content='{"data": %s}' % body,
                          headers={"content-type": "application/json"}, timeout=30)
    assert response.status_code == 200, response.text
    event_id = response.json()["event_id"]
    stream = httpx.get(f"{app_url}gradio_api/call{api_name}/{event_id}", timeout=60).text
    assert "event: error" in stream, stream[:300]
    data = stream.split("event: error", 1)[1].split("data:", 1)[1].strip().splitlines()[0]
    return json.loads(data).get("error") or ""


@pytest.mark.parametrize(
    "case", [pytest.param(c, marks=c.marks, id=f"{c.api_name.strip('/')}-{i}") for i, c in enumerate(INPUT_CASES)]
)
def test_bad_input_gets_a_clear_message(client, app_url, case):
    _require_tab(case.module)
    if case.raw:
        message = _raw_call(app_url, case.api_name, case.args)
        assert message, f"{case.api_name}: a crash instead of a message"
        assert case.message.lower() in message.lower(), message
    else:
        expect_message(client, case.api_name, case.args, case.message)
