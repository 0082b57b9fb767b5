"""Seeing a swarm: a live Solara view of a running scenario, and animations of recorded episodes.

``dmarl view SCENARIO.py`` (the ``viz`` extra: Solara through Mesa's SolaraViz) runs a scenario
in the browser; ``dmarl animate RUN_DIR --out run.gif`` replays the `trace` table of a run. Both
draw ``Scene`` objects: agents coloured by role, the links up, the world's map. See docs/viz.md.
"""
