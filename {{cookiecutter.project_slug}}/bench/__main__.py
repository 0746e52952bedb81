"""`python -m bench --help`: run from the project's root."""

import sys

from .run import main

sys.exit(main())
