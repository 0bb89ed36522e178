"""Augmentation speed: the book's composed pipeline (flip + ColorJitter(0.5, 0.5, 0.5, 0.5) + RandomResizedCrop
200x200) on 8 samples of a 512x512 image with boxes and a mask.

Measured side by side in one run: our server-side path (`core.data.augment.augment_samples`, Albumentations, fresh
pipeline per sample with recorded parameters), the same plus drawing the overlays, the whole `/augment`
handler minus HTTP, and the peer: torchvision.transforms.v2 doing the same pipeline on the same targets.
Target: 8 samples with boxes and mask under 100 ms on 2 CPU cores.

    python -m benchmarks.augment
"""

from __future__ import annotations

import torch

from benchmarks.timing import median_seconds

TARGET_MS = 100.0
SAMPLES = 8
SIDE = 512


def _time(fn, repeats: int = 15) -> tuple[float, float]:
    """Median wall and CPU milliseconds after one warm-up call."""
    wall, cpu = median_seconds(fn, repeats)
    return wall * 1e3, cpu * 1e3


def main() -> None:
    import os

    from core.data import augment as aug

    scene = aug.shapes_scene(SIDE, SIDE)
    pipeline = aug.preset("Book: flip + colour + crop (composed)")

    def ours() -> None:
        aug.augment_samples(scene.image, pipeline, SAMPLES, 0, scene.boxes, scene.mask)

    def ours_drawn() -> None:
        for s in aug.augment_samples(scene.image, pipeline, SAMPLES, 0, scene.boxes, scene.mask):
            aug.draw_sample(s.image, s.boxes, s.kept, scene.names, s.mask)

    import torchvision.transforms.v2 as T
    from torchvision import tv_tensors

    peer = T.Compose([
        T.RandomHorizontalFlip(),
        T.ColorJitter(brightness=0.5, contrast=0.5, saturation=0.5, hue=0.5),
        T.RandomResizedCrop((200, 200), scale=(0.1, 1.0), ratio=(0.5, 2.0), antialias=True),
        T.SanitizeBoundingBoxes(labels_getter=lambda inputs: inputs[1]),
    ])
    image = tv_tensors.Image(torch.from_numpy(scene.image.copy()).permute(2, 0, 1))  # (3, H, W)
    boxes = tv_tensors.BoundingBoxes(torch.from_numpy(scene.boxes.copy()), format="XYXY", canvas_size=(SIDE, SIDE))
    mask = tv_tensors.Mask(torch.from_numpy(scene.mask.copy()))
    labels = torch.arange(len(scene.boxes))

    def torchvision_peer() -> None:
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(0)  # benchmark only: torchvision v2 draws from the global generator
        for _ in range(SAMPLES):
            peer({"image": image, "boxes": boxes, "mask": mask}, labels)
        torch.random.set_rng_state(generator_state)

    from demos import augmentation as demo

    pipeline_json = aug.to_json(pipeline)

    def handler() -> None:  # the /augment handler without HTTP and PNG encoding: default scene, 8 samples
        demo.compute(scene.image, scene.boxes, scene.names, scene.mask,
                     demo._pipeline_from_text(pipeline_json), SAMPLES, 0)

    print(f"{SAMPLES} samples of {SIDE}x{SIDE}, book pipeline (flip + ColorJitter 0.5 x4 + RandomResizedCrop 200), "
          f"3 boxes + mask; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    app_threads = int(os.environ.get("LAB_TORCH_THREADS", "2"))
    for threads in sorted({app_threads, 1}, reverse=True):
        torch.set_num_threads(threads)  # torchvision drawing and the peer use torch's intra-op threads
        results = {
            "ours (albumentations, params recorded)": _time(ours),
            "ours + drawing boxes and masks": _time(ours_drawn),
            "ours, whole handler (parse JSON, run, draw, JSON out)": _time(handler),
            "peer: torchvision.transforms.v2": _time(torchvision_peer, repeats=5),
        }
        peer_wall, peer_cpu = results["peer: torchvision.transforms.v2"]
        print(f"torch threads {threads}:{'':44s} wall ms   CPU ms   ratio vs torchvision (wall, CPU)")
        for name, (wall, cpu) in results.items():
            print(f"  {name:58s} {wall:7.1f}  {cpu:7.1f}   {wall / peer_wall:5.2f}  {cpu / peer_cpu:5.2f}")
        wall, cpu = results["ours + drawing boxes and masks"]
        verdict = "OK" if wall < TARGET_MS else "ABOVE TARGET (see CPU ms and the load average)"
        print(f"  target: 8 samples with boxes and mask under {TARGET_MS:.0f} ms -> wall {wall:.1f} ms, "
              f"CPU {cpu:.1f} ms: {verdict}")


if __name__ == "__main__":
    main()
