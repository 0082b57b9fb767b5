"""`python -m dmarl_des.cli`: the same as the `dmarl` command."""

import sys

from dmarl_des.cli import main

sys.exit(main())
