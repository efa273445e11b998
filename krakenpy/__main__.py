import sys

from krakenpy.server import earlystop

earlystop.install(sys.argv[1:])  # before the imports: ``run``'s stop signals are recorded from here on

from krakenpy.cli import main  # noqa: E402

sys.exit(main())
