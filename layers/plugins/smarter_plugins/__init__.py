"""Plugin kinds for Smarter Serverless. Each module is one kind, registered as
an entry point in the `smarter.plugin_kinds` group (see pyproject.toml)."""
