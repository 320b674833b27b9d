"""Speed benchmarks: ``python -m lstm_lib.bench`` (see ``__main__``).

Each model's benchmark lives in its own module here and exposes ``run(args) -> list[Row]``;
:mod:`lstm_lib.bench.timing` holds the interleaved timer and the table they share.
"""
