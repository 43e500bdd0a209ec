"""The command line, `python -m sop_core <command>`.

registry (commands register here), main (the parser and error handling) and one module per group of
commands: data (load, status), forecast (forecast, backtest), admin (backup, restore, check, demo), pack,
serve, reasons.
"""

__all__ = ["admin", "data", "forecast", "main", "pack", "reasons", "registry", "serve"]
