"""Wiring point of the intake service."""

from services.intake.api import router
from services.intake.application import IntakeApplication
from services.intake.translate import translate
from services.intake.ui import router as ui_router
from services.intake.ui import ui
from shared.web.http import create_service

api = create_service("intake", IntakeApplication, translate, router, ui, ui_router)
