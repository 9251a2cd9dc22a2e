"""One module per chapter of the book: its computation, from trained studies to tidy tables.

Each module has pure functions on arrays (``[seed, example]`` predictions, ``[seed]`` per-seed
statistics), unit-tested on arrays small enough to check by hand, and one entry point that a
chapter's notebook calls per section. The claims they judge are in ``pie_utils.claims``.
"""
