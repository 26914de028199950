"""Every method's settings and their defaults, from one source, the code: read without importing torch (`source`,
`methods`: the help's meanings too), and written as the committed configuration nodes under `conf/method/`
(`defaults`: `python -m whitening_ssl.settings.defaults --write | --check`)."""
