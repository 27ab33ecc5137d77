"""Lead Analytics: loaders, synthetic data, Dagster definitions and the CLI."""
