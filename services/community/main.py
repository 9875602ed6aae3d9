"""Wiring point of the community service."""

from services.community.api import router
from services.community.application import CommunityApplication
from services.community.translate import translate
from services.community.ui import router as ui_router
from services.community.ui import ui
from shared.web.http import create_service

api = create_service("community", CommunityApplication, translate, router, ui, ui_router)
