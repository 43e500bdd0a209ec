"""Shared UI pieces for the page scripts (Streamlit only; the engine lives in sop_core)."""
