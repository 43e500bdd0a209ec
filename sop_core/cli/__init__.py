"""The command line, `python -m sop_core <command>`.

registry (commands register here), main (the parser and error handling) and one module per group of
commands: data (load, status), forecast (forecast, backtest), export (forecast or consensus as CSV), admin
(backup, restore, check, demo), pack, serve, reasons.
"""

__all__ = ["admin", "data", "export", "forecast", "main", "pack", "reasons", "registry", "serve"]
