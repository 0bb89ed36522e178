"""One module per tab. Each exposes `TITLE: str` and `build() -> demos.router.TabUI`, which creates the tab's
components inside the caller's `gr.Tab` context and says how the lab restores, shows and links its view (its
`demos.view.View`); a module may also expose `CSS` for the page. Importing a demo module is cheap: models and data
load lazily, on first use.

`TAB_MODULES` is the order in which `app.py` shows the tabs; the last part of a module's name is its tab id
(``demos.nms`` -> ``nms``, the links' ``?tab=nms``), written nowhere else.
"""

TAB_MODULES: tuple[str, ...] = (
    "demos.lecture",
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
