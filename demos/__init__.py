"""One module per tab. Each exposes `TITLE: str` and `build() -> None`, which creates the
tab's components inside the caller's `gr.Tab` context. Importing a demo module is cheap:
models and data load lazily, on first use.

`TAB_MODULES` is the order in which `app.py` shows the tabs.
"""

TAB_MODULES: tuple[str, ...] = (
    "demos.augmentation",
    "demos.anchors",
    "demos.nms",
    "demos.transposed_conv",
    "demos.dataset",
    "demos.detection",
    "demos.segmentation",
    "demos.gan_lab",
    "demos.generative",
    "demos.finetune",
)
