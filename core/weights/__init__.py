"""Trained weights: cards and Hub access (`core.weights.hub`), and the one place models load by name
(`core.weights.registry.load_model`)."""
