"""The participation service (`python -m services.participation`)."""
