"""One module per `preflight` command (ruff's `commands/` is the model): each parses its options into
plain values, calls the pipeline, and prints. Shared options and output helpers live in `common`.
"""
