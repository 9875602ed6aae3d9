"""Wiring point of the outreach service."""

from services.outreach.api import router
from services.outreach.application import OutreachApplication
from services.outreach.translate import translate
from services.outreach.ui import router as ui_router
from services.outreach.ui import ui
from shared.web.http import create_service

api = create_service("outreach", OutreachApplication, translate, router, ui, ui_router)
