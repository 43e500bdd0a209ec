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
    (
        "020_overrides",
        """
        CREATE TABLE overrides (
            override_id VARCHAR PRIMARY KEY,
            run_key VARCHAR NOT NULL,
            seq BIGINT NOT NULL UNIQUE,
            created_at TIMESTAMP NOT NULL,
            author VARCHAR NOT NULL,
            family VARCHAR,
            region VARCHAR,
            sku VARCHAR,
            period_from DATE NOT NULL,
            period_to DATE NOT NULL,
            kind VARCHAR NOT NULL CHECK (kind IN ('percent', 'units')),
            value DOUBLE NOT NULL,
            reason VARCHAR NOT NULL,
            comment VARCHAR,
            before_units DOUBLE,
            after_units DOUBLE,
            undoes VARCHAR,
            event_id VARCHAR UNIQUE
        );
        CREATE TABLE consensus (
            run_key VARCHAR NOT NULL,
            sku VARCHAR NOT NULL,
            region VARCHAR,
            family VARCHAR,
            period DATE NOT NULL,
            statistical DOUBLE NOT NULL,
            consensus DOUBLE NOT NULL,
            overridden BOOLEAN NOT NULL
        );
        """,
    ),
    (
        "010_forecast",
        """
        CREATE TABLE forecast_runs (
            run_id VARCHAR PRIMARY KEY,
            run_key VARCHAR NOT NULL,
            data_fingerprint VARCHAR NOT NULL,
            settings_key VARCHAR NOT NULL,
            settings VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            author VARCHAR,
            seconds DOUBLE,
            n_series BIGINT,
            last_actual DATE,
            backtest VARCHAR,
            warnings VARCHAR
        );
        CREATE TABLE forecast_values (
            run_id VARCHAR NOT NULL,
            series_id VARCHAR NOT NULL,
            sku VARCHAR,
            region VARCHAR,
            family VARCHAR,
            period DATE NOT NULL,
            value DOUBLE NOT NULL,
            lower DOUBLE,
            upper DOUBLE,
            model VARCHAR NOT NULL
        );
        CREATE TABLE forecast_series (
            run_id VARCHAR NOT NULL,
            series_id VARCHAR NOT NULL,
            sku VARCHAR,
            region VARCHAR,
            family VARCHAR,
            model VARCHAR NOT NULL,
            candidate VARCHAR NOT NULL,
            reason VARCHAR NOT NULL,
            interval_source VARCHAR,
            n_obs BIGINT,
            n_origins BIGINT,
            n BIGINT,
            wape DOUBLE,
            accuracy DOUBLE,
            bias DOUBLE,
            mase DOUBLE,
            tracking_signal DOUBLE,
            wape_seasonal_naive DOUBLE,
            wape_candidate DOUBLE,
            fva DOUBLE,
            flags VARCHAR
        );
        CREATE TABLE backtest_points (
            run_id VARCHAR NOT NULL,
            series_id VARCHAR NOT NULL,
            origin DATE NOT NULL,
            step INTEGER NOT NULL,
            period DATE NOT NULL,
            actual DOUBLE,
            forecast DOUBLE,
            naive DOUBLE,
            scale DOUBLE,
            model VARCHAR NOT NULL
        );
        """,
    ),
    (
        "030_versions_decisions",
        """
        CREATE TABLE plan_versions (
            version_id VARCHAR PRIMARY KEY,
            number BIGINT NOT NULL UNIQUE,
            name VARCHAR NOT NULL,
            approved_by VARCHAR NOT NULL,
            approved_at TIMESTAMP NOT NULL,
            scenario_id VARCHAR,
            fingerprints VARCHAR NOT NULL,
            note VARCHAR,
            n_lines BIGINT NOT NULL,
            total_units DOUBLE,
            total_revenue DOUBLE,
            total_cogs DOUBLE,
            content_sha256 VARCHAR NOT NULL,
            event_id VARCHAR UNIQUE
        );
        CREATE TABLE plan_version_lines (
            version_id VARCHAR NOT NULL,
            line_no BIGINT NOT NULL,
            sku VARCHAR,
            region VARCHAR,
            family VARCHAR,
            period DATE NOT NULL,
            units DOUBLE NOT NULL,
            unit_price DOUBLE,
            revenue DOUBLE,
            cogs DOUBLE,
            PRIMARY KEY (version_id, line_no)
        );
        CREATE TABLE decisions (
            decision_id VARCHAR PRIMARY KEY,
            title VARCHAR NOT NULL,
            detail VARCHAR,
            owner VARCHAR NOT NULL,
            due_date DATE NOT NULL,
            created_by VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            scenario_id VARCHAR,
            event_id VARCHAR UNIQUE
        );
        CREATE TABLE decision_events (
            decision_event_id VARCHAR PRIMARY KEY,
            decision_id VARCHAR NOT NULL,
            seq BIGINT NOT NULL,
            "at" TIMESTAMP NOT NULL,
            author VARCHAR NOT NULL,
            kind VARCHAR NOT NULL CHECK (kind IN ('created', 'status', 'linked')),
            old_status VARCHAR,
            new_status VARCHAR CHECK (new_status IN ('open', 'in progress', 'done', 'dropped')),
            version_id VARCHAR,
            UNIQUE (decision_id, seq)
        );
        """,
    ),
    (
        "040_scenarios",
        """
        CREATE TABLE scenarios (
            scenario_id VARCHAR PRIMARY KEY,
            name VARCHAR NOT NULL,
            author VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            changes VARCHAR NOT NULL,
            note VARCHAR,
            base_fingerprint VARCHAR,
            event_id VARCHAR UNIQUE,
            archived_at TIMESTAMP
        );
        """,
    ),
    (
        "050_plan_results",
        """
        CREATE TABLE plan_results (
            result_key VARCHAR PRIMARY KEY,
            fingerprint VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            seconds DOUBLE,
            bytes BIGINT,
            manifest VARCHAR NOT NULL
        );
        CREATE TABLE plan_result_frames (
            result_key VARCHAR NOT NULL,
            frame_no INTEGER NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (result_key, frame_no)
        );
        """,
    ),
    (
        "060_link_snapshots",
        """
        CREATE TABLE link_snapshots (
            snapshot_id VARCHAR PRIMARY KEY,
            page VARCHAR NOT NULL,
            params VARCHAR NOT NULL,
            fingerprint VARCHAR NOT NULL,
            as_of DATE NOT NULL,
            created_at TIMESTAMP NOT NULL,
            author VARCHAR,
            content VARCHAR NOT NULL,
            bytes BIGINT NOT NULL
        );
        """,
    ),
]
