"""python -m mlops.cli"""

import sys

from mlops.cli import main

sys.exit(main())
