"""Detection and upsampling math with no learned parameters: boxes, anchors, NMS, transposed convolution, latents.

Tensors in, tensors out; each function states its shapes. The teaching implementations here are tested equal to
torchvision.ops or to an independent reference.
"""
