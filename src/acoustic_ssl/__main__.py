"""``python -m acoustic_ssl`` is the same as the ``acoustic-ssl`` command."""

import sys

from acoustic_ssl.cli import main

sys.exit(main())
