"""Each model's training recipe, one file per model (see `core.training.engine.Recipe`).

A recipe holds what is particular to its model: its settings dataclass (epochs or steps, learning rate, batch
size, schedule, augmentation; every field a ``python -m core.train MODEL`` flag), how to build the networks and
optimisers, its data (each process's share), one step, what to evaluate during training, and what to save.
"""

RECIPES: dict[str, str] = {
    "ssd": "core.training.recipes.ssd:SSDRecipe",
    "faster_rcnn": "core.training.recipes.faster_rcnn:FasterRCNNRecipe",
    "fcn": "core.training.recipes.fcn:FCNRecipe",
    "dcgan": "core.training.recipes.dcgan:DCGANRecipe",
    "cgan": "core.training.recipes.cgan:CGANRecipe",
    "cyclegan": "core.training.recipes.cyclegan:CycleGANRecipe",
    "progan": "core.training.recipes.progan:ProGANRecipe",
    "finetune_source": "core.training.recipes.finetune_source:FinetuneSourceRecipe",
}
"""Model name -> "module:Recipe class" (imported only when that model is trained). Add a model: one line."""
