"""Generative models trained on bundled data: DCGAN, conditional GAN, CycleGAN and progressive GAN.

One module per model (`dcgan`, `cgan`, `cyclegan`, `progan`), each with its `nn.Module`s, a
`train(args)` that writes `weights/<name>.*` and an `evaluate(args)` that measures the model card's
metrics. `latent` holds the latent-space tools (seeded latents, interpolation, truncation, PCA
directions as in GANSpace, nearest real image), `data` the bundled datasets and the digit classifier
that judges the CGAN, `training` the pieces every training loop shares.

Images are float tensors in [-1, 1] shaped (B, C, H, W) inside the models; `data.to_uint8` turns them
into (B, H, W, C) uint8 arrays for display.
"""
