"""``python -m whitening_ssl.report``: see :mod:`whitening_ssl.report`."""

from whitening_ssl.report.cli import main

if __name__ == "__main__":
    main()
