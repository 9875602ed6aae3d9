"""The community service (`python -m services.community`)."""
