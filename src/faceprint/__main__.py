"""`python -m faceprint ...` is `faceprint ...`."""

import sys

from faceprint.cli import main

sys.exit(main())
