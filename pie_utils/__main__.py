"""``python -m pie_utils``: see ``pie_utils.cli``."""

import sys

from pie_utils.cli import main

sys.exit(main())
