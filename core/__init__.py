"""Pure tensor/array math for the CV lab. No gradio here; I/O only in named loaders."""
