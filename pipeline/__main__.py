"""`python -m pipeline` runs the mediapub command."""

import sys

from pipeline.cli import main

sys.exit(main())
