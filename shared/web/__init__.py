"""The web edge: the FastAPI service, UI, sign-in, policy, limits, metrics, the audit and plan APIs."""
