"""Run one service's HTTP door with uvicorn (`python -m services.<name>`)."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from shared.settings import Settings


def serve(service: str, api: FastAPI) -> None:
    settings = Settings.from_env(service)
    uvicorn.run(api, host=settings.host, port=settings.port, log_level="warning", lifespan="on")
