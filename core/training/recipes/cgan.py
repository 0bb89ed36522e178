"""Recipe of ``cgan``: the DCGAN recipe with the digit labels given to both players (Mirza & Osindero 2014)."""

from __future__ import annotations

import copy
from typing import Any

from torch import nn

from core.models.cgan import CLASS_NAMES, NAME, ConditionalDiscriminator, ConditionalGenerator
from core.models.dcgan import DCGANConfig
from core.training.engine import TrainResult
from core.training.recipes.dcgan import DCGANRecipe


class CGANRecipe(DCGANRecipe):
    name = NAME
    conditional = True

    def networks(self, config: DCGANConfig) -> tuple[nn.Module, nn.Module]:
        return ConditionalGenerator(config), ConditionalDiscriminator(config)

    def evaluate(self) -> dict[str, Any]:
        from core.evaluation.evaluators import cgan_quality

        return cgan_quality(copy.deepcopy(self.generator).cpu().eval(), self.settings.eval_samples // 10)

    def spec_fields(self) -> dict[str, Any]:
        return {**super().spec_fields(), "architecture": "cgan-generator", "class_names": CLASS_NAMES}

    def card(self, result: TrainResult) -> dict[str, Any]:
        return {
            **super().card(result),
            "data": "sklearn.datasets.load_digits: all 1,797 8x8 digits with labels, bilinearly upscaled to 16x16",
            "conditioning": "one-hot label concatenated to z (generator) and as 10 constant planes (discriminator)",
            "loss": "non-saturating conditional GAN loss (BCE with logits)",
        }
