#!/usr/bin/env python3
"""Issue 27's video baseline for `Tessera.Bench sam2video`: the official SAM2VideoPredictor (facebookresearch/sam2
2b90b9f, imported unchanged with the hydra/iopath/tqdm stand-ins of tests/fixtures/sam2/make_fixtures.py; the CUDA
extension sam2._C is absent, as on any CPU install, so fill_hole_area=8 warns once and leaves the masks as they are),
built as build_sam2_video_predictor builds sam2.1_hiera_t (bench/scripts/sam2_random_hiera_t.py's `build(video=True)`)
and loaded strictly from the bench's checkpoint, on the CPU in float32.

  sam2_video_torch.py clip PHOTO OUTDIR FRAMES
      the clip: FRAMES 854x480 crops of PHOTO moving 24 px right and 12 px down per frame from (400, 300), written as
      OUTDIR/00000.jpg ... (JPEG quality 90, the official folder layout)
  sam2_video_torch.py serve SAM2_SRC CHECKPOINT FRAMES_DIR THREADS
      loads the model, prints `ready`, then for each line `K` on stdin: init_state(FRAMES_DIR) (frames decoded and
      frame 0 encoded: not timed), one positive click per object for objects 1..K on frame 0 (POINTS, video pixels;
      not timed), then propagate_in_video forwards over the whole clip, timed; prints `s_per_frame S frames N` (the
      propagation's wall time over the N frames it yields)."""
import os, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
POINTS = [(427, 240), (200, 330), (650, 150)]  # the bench's clicks (Sam2VideoBench.Points), objects 1, 2, 3


def clip(photo, out, frames):
    from PIL import Image
    img = Image.open(photo).convert("RGB")
    os.makedirs(out, exist_ok=True)
    for i in range(frames):
        x, y = 400 + 24 * i, 300 + 12 * i
        img.crop((x, y, x + 854, y + 480)).save(os.path.join(out, f"{i:05d}.jpg"), quality=90)


def serve(src, ckpt, frames_dir, threads):
    import torch
    import sam2_random_hiera_t as hiera
    torch.set_num_threads(threads)
    hiera.install(src)
    print("pytorch-cpu:", f"torch {torch.__version__}; ATen {torch.backends.cpu.get_cpu_capability()}; threads {torch.get_num_threads()}", flush=True)
    model = hiera.build(video=True)
    missing, unexpected = model.load_state_dict(torch.load(ckpt, map_location="cpu", weights_only=True)["model"])
    assert not missing and not unexpected, (missing, unexpected)
    model = model.to("cpu").eval()
    print("ready", flush=True)
    for line in sys.stdin:
        k = int(line)
        with torch.inference_mode():
            state = model.init_state(frames_dir)
            for obj in range(k):
                model.add_new_points_or_box(state, frame_idx=0, obj_id=obj + 1, points=[POINTS[obj]], labels=[1])
            t0 = time.perf_counter()
            n = sum(1 for _ in model.propagate_in_video(state))
            dt = time.perf_counter() - t0
        print(f"s_per_frame {dt / n} frames {n}", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "clip":
        clip(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        serve(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
