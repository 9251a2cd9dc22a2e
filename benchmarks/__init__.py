"""On-demand speed measurements of pie_utils against a plain baseline (not run in CI)."""
