"""Every method's settings and their defaults, from one source, the code: read without importing torch (`source`,
`methods`: the help's meanings too); `python -m whitening_ssl.cli.write_defaults --write | --check` writes them as the
committed configuration nodes under `conf/method/`."""
