"""NATS: the connection and streams, the relay out, the inbox in, dead letters, the NATS users."""
