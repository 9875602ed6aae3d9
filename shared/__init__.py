"""Machinery shared by every Jusou service: contracts, stores, relay, inbox, settings, runner."""
