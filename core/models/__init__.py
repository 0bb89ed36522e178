"""The lab's networks: one file per model (detectors, FCN, GANs, the fine-tuning classifier).

Model files hold architectures and inference; how a model is trained lives in `core.training`.
"""
