"""The meeting service (`python -m services.meeting`)."""
