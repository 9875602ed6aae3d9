"""Run one service's HTTP door with uvicorn (`python -m services.<name>`)."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from shared.logs import configure_logging
from shared.settings import Settings


def serve(service: str, api: FastAPI) -> None:
    configure_logging(service)  # before uvicorn: its lines too are JSON with JUSOU_LOG_FORMAT=json
    settings = Settings.from_env(service)
    uvicorn.run(api, host=settings.host, port=settings.port, log_level="warning", log_config=None, lifespan="on")
