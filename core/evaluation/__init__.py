"""Metrics: detection mAP and segmentation IoU (torchmetrics), and the generative models' judges."""
