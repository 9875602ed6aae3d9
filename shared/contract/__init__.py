"""The public contract: the integration events and their envelope (events.py), their JSON Schemas (schemas/)."""
