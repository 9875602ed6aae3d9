"""Machinery shared by every Jusou service, in layers (README "Layout"): web → messaging → observe → domain → kernel → contract → settings."""
