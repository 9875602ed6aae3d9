"""Test support: real servers behind one interface, and polling helpers."""
