"""The collaboration service (`python -m services.collaboration`)."""
