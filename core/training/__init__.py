"""Training: the shared engine and each model's recipe (`python -m core.train MODEL`)."""
