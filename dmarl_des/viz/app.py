"""The Solara app ``dmarl view`` serves: the page of the scenario its environment names.

``solara run dmarl_des.viz.app`` imports this module in the server; ``dmarl view`` sets
``DMARL_VIEW_SCENARIO`` (the scenario file), ``DMARL_VIEW_OVERRIDES`` (a JSON object of dotted
keys, as ``--set``) and ``DMARL_VIEW_INTERVAL`` (simulated time per step) first.
"""

from __future__ import annotations

import json
import os

from dmarl_des.scenario import load_scenario
from dmarl_des.viz.page import view_page

SCENARIO = "DMARL_VIEW_SCENARIO"
OVERRIDES = "DMARL_VIEW_OVERRIDES"
INTERVAL = "DMARL_VIEW_INTERVAL"

Page = view_page(
    load_scenario(os.environ[SCENARIO], json.loads(os.environ.get(OVERRIDES, "{}"))),
    interval=float(os.environ.get(INTERVAL, "1.0")),
)
