"""`python -m kgrec.train` is `kgrec-train`."""

from kgrec.cli.train import main

main()
