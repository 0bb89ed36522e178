"""Each model's training recipe, one file per model (see `core.training.engine.Recipe`).

A recipe holds what is particular to its model: its settings dataclass (epochs or steps, learning rate, batch
size, schedule, augmentation; every field a ``python -m core.train MODEL`` flag), how to build the networks and
optimisers, its data (each process's share), one step, what to evaluate during training, and what to save.

Adding a model ``mymodel``:
  1. ``core/models/mymodel.py``: the network and its inference, plus ``from_weights(spec, state, device)``;
     one line in `core.weights.registry.BUILDERS` (then ``load_model("mymodel", device)`` serves every tab).
  2. ``core/training/recipes/mymodel.py``: a settings dataclass and a `core.training.engine.Recipe` subclass
     (build, batches -- each process's ``run.shard`` of a global batch --, step, evaluate, score, state_dict,
     spec_fields, card); one line in `RECIPES`. ``python -m core.train mymodel`` (and torchrun) now trains it;
     tests/test_recipes.py's `TINY` gets its smoke flags.
  3. ``core/evaluation/evaluators.py``: ``measure(model, count)`` and its fixed subset in `EVALUATIONS`;
     ``python -m core.evaluate mymodel`` records both in the card, and tests/test_evaluate.py re-measures the subset.
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
    "rcnn": "core.training.recipes.rcnn:RCNNRecipe",
    "fast_rcnn": "core.training.recipes.fast_rcnn:FastRCNNRecipe",
}
"""Model name -> "module:Recipe class" (imported only when that model is trained). Add a model: one line."""
