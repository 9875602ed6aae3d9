"""Wiring point of the collaboration service."""

from services.collaboration.api import router
from services.collaboration.application import CollaborationApplication
from services.collaboration.translate import translate
from services.collaboration.ui import router as ui_router
from services.collaboration.ui import ui
from shared.web.http import create_service

api = create_service("collaboration", CollaborationApplication, translate, router, ui, ui_router)
