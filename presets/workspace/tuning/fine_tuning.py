"""Script form of the entrypoint, for `accelerate launch ... /workspace/tuning/fine_tuning.py`
(KAITO's historical command line); it only needs /workspace on PYTHONPATH."""

import sys

from tuning.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
