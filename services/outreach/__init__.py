"""The outreach service (`python -m services.outreach`)."""
