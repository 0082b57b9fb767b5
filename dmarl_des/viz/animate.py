"""Animations of recorded episodes: one frame per trace sample, written as a GIF (Pillow) or MP4.

A GIF needs nothing outside Python (Pillow writes it, frames reduced to a shared palette of at
most 64 colours, looping). An MP4 is encoded by the ``ffmpeg`` program (H.264, yuv420p) when it is
installed; asking for one without it is a configuration error that says so.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from dmarl_des.errors import ConfigError
from dmarl_des.viz.raster import draw_scene
from dmarl_des.viz.replay import scenes_of_run
from dmarl_des.viz.scene import Scene

FORMATS = (".gif", ".mp4")
PALETTE_COLOURS = 64


def check_output(out: str | Path) -> Path:
    """``out`` as a Path: a .gif, or a .mp4 where ffmpeg is installed (else a ConfigError)."""
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError("--out", str(out), "a file name ending in .gif or .mp4")
    if suffix == ".mp4" and shutil.which("ffmpeg") is None:
        raise ConfigError("--out", str(out), "a .gif file (an .mp4 needs ffmpeg, not installed)")
    if path.exists() and path.is_dir():
        raise ConfigError("--out", str(out), "a file name (this is a folder)")
    return path


def write_animation(
    scenes: Sequence[Scene], out: str | Path, *, fps: float = 10.0, size: int = 480
) -> Path:
    """Draw ``scenes`` and write them to ``out`` (.gif or .mp4); returns the path."""
    path = check_output(out)
    if not scenes:
        raise ConfigError("scenes", 0, "at least one trace sample to draw")
    if not 0.5 <= fps <= 60:
        raise ConfigError("--fps", fps, "frames per second in [0.5, 60]")
    if path.suffix.lower() == ".mp4" and size % 2:
        raise ConfigError("--size", size, "an even number of pixels for an .mp4")
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = [draw_scene(scene, size) for scene in scenes]
    if path.suffix.lower() == ".gif":
        _write_gif(frames, path, fps)
    else:
        _write_mp4(frames, path, fps)
    return path


def animate_run(
    run_dir: str | Path,
    out: str | Path,
    *,
    episode: int = 0,
    run_id: str | None = None,
    every: int = 1,
    max_frames: int | None = None,
    fps: float = 10.0,
    size: int = 480,
) -> tuple[Path, int]:
    """Animate an episode of the run in ``run_dir``; returns the file and its frame count."""
    check_output(out)
    scenes = scenes_of_run(
        run_dir, episode=episode, run_id=run_id, every=every, max_frames=max_frames
    )
    return write_animation(scenes, out, fps=fps, size=size), len(scenes)


def _write_gif(frames: list[Image.Image], path: Path, fps: float) -> None:
    # one palette from a strip of sampled frames, shared by all: stable colours, small files
    strip = Image.new("RGB", (frames[0].width, frames[0].height * min(len(frames), 4)))
    for k, frame in enumerate(frames[:: max(1, len(frames) // 4)][:4]):
        strip.paste(frame, (0, k * frame.height))
    palette = strip.quantize(colors=PALETTE_COLOURS, method=Image.Quantize.MEDIANCUT)
    indexed = [f.quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    tmp = path.with_name(f".{path.name}.tmp")
    indexed[0].save(
        tmp,
        format="GIF",
        save_all=True,
        append_images=indexed[1:],
        duration=round(1000 / fps),
        loop=0,
        optimize=False,
    )
    tmp.replace(path)


def _write_mp4(frames: list[Image.Image], path: Path, fps: float) -> None:
    width, height = frames[0].size
    tmp = path.with_name(f".{path.name}.tmp.mp4")
    cmd = [
        "ffmpeg", "-y", "-loglevel", "error",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", f"{fps:g}",
        "-i", "-",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(tmp),
    ]  # fmt: skip
    data = b"".join(f.tobytes() for f in frames)
    done = subprocess.run(cmd, input=data, capture_output=True, check=False)
    if done.returncode != 0:
        tmp.unlink(missing_ok=True)
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise RuntimeError(f"ffmpeg failed: {message[-1] if message else done.returncode}")
    tmp.replace(path)
