"""The intake service (`python -m services.intake`)."""
