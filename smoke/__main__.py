"""`python -m smoke ...` is `gptoss smoke ...`."""

import sys

from smoke.cli import main

sys.exit(main())
