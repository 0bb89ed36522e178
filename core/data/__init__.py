"""Where pixels come from: the shared image loader, the generated scenes, datasets over them, augmentation."""
