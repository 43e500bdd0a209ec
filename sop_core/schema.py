"""Workspace schema as named migrations, applied in order once each on open.

Append new migrations at the end; never edit one that has shipped.
"""
from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
    (
        "001_core",
        """
        CREATE TABLE loads (
            load_id VARCHAR PRIMARY KEY,
            table_name VARCHAR NOT NULL,
            file_name VARCHAR NOT NULL,
            sha256 VARCHAR NOT NULL,
            content_sha256 VARCHAR NOT NULL,
            rows BIGINT NOT NULL,
            loaded_at TIMESTAMP NOT NULL,
            author VARCHAR,
            seconds DOUBLE,
            warnings VARCHAR,
            mapping VARCHAR
        );
        CREATE TABLE column_mappings (
            layout_key VARCHAR PRIMARY KEY,
            table_name VARCHAR NOT NULL,
            mapping VARCHAR NOT NULL,
            options VARCHAR,
            updated_at TIMESTAMP NOT NULL
        );
        CREATE TABLE settings (
            key VARCHAR PRIMARY KEY,
            value VARCHAR NOT NULL,
            updated_at TIMESTAMP NOT NULL,
            author VARCHAR
        );
        CREATE TABLE audit_log (
            event_id VARCHAR PRIMARY KEY,
            "at" TIMESTAMP NOT NULL,
            author VARCHAR,
            kind VARCHAR NOT NULL,
            subject VARCHAR,
            detail VARCHAR
        );
        """,
    ),
]
