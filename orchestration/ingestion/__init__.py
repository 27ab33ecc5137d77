"""Ingestion: the raw-table contracts, the loader that lands vendor files in the raw schemas, and the
synthetic data generator that writes such files."""
