import sys

from krakenpy.cli import main

sys.exit(main())
