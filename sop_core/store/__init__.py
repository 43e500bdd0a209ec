"""The store: one DuckDB workspace file per company and everything that keeps it safe.

workspace (the file, transactions, audit events), schema (its migrations), lock (one server per
workspace), ledger (the audit ledger outside the database), recovery (the check of the database
against the ledger), paths and backup (backups and verified restores), access and identity (roles), signin (the
checked sign-in settings and the provider check).
"""

__all__ = ["access", "backup", "identity", "ledger", "lock", "paths", "recovery", "schema", "signin", "workspace"]
