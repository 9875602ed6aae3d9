"""Wiring point of the participation service."""

from services.participation.api import router
from services.participation.application import ParticipationApplication
from services.participation.translate import translate
from services.participation.ui import router as ui_router
from services.participation.ui import ui
from shared.web.http import create_service

api = create_service("participation", ParticipationApplication, translate, router, ui, ui_router)
