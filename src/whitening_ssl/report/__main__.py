"""``python -m whitening_ssl.report``: see :mod:`whitening_ssl.report`."""

from whitening_ssl.report.command import main

if __name__ == "__main__":
    main()
