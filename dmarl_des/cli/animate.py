"""`dmarl animate`: an episode of a recorded run as a GIF (or an MP4 where ffmpeg is installed)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "animate",
        help="animate an episode of a run from its trace table (GIF, or MP4 with ffmpeg)",
        description=(
            "Draw every trace sample of one episode of a run folder — agents coloured by role, "
            "links up, crashes as they happen, the world's map — into a GIF (Pillow) or an MP4 "
            "(ffmpeg). Record the trace with: dmarl run SCENARIO.py --set record.trace_every=1"
        ),
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by dmarl run (--out)")
    p.add_argument("--out", required=True, help="the animation file: NAME.gif or NAME.mp4")
    p.add_argument("--episode", type=int, default=0, help="episode to animate (default 0)")
    p.add_argument("--run", help="run id, when the folder holds several runs")
    p.add_argument("--every", type=int, default=1, help="draw every k-th trace sample")
    p.add_argument("--max-frames", type=int, help="at most this many frames (evenly spread)")
    p.add_argument("--fps", type=float, default=10.0, help="frames per second (default 10)")
    p.add_argument("--size", type=int, default=480, help="frame side in pixels (default 480)")
    p.set_defaults(func=animate_command, on_interrupt="no animation written")


def animate_command(args: argparse.Namespace) -> int:
    from dmarl_des.errors import ConfigError
    from dmarl_des.viz.animate import animate_run

    if not 96 <= args.size <= 4096:
        raise ConfigError("--size", args.size, "a frame side in [96, 4096] pixels")
    path, frames = animate_run(
        args.run_dir,
        args.out,
        episode=args.episode,
        run_id=args.run,
        every=args.every,
        max_frames=args.max_frames,
        fps=args.fps,
        size=args.size,
    )
    print(f"{path}: {frames} frames, {args.size}×{args.size} px, {path.stat().st_size:,} bytes")
    return 0
