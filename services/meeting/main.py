"""Wiring point of the meeting service."""

from services.meeting.api import router
from services.meeting.application import MeetingApplication
from services.meeting.translate import translate
from services.meeting.ui import router as ui_router
from services.meeting.ui import ui
from shared.web.http import create_service

api = create_service("meeting", MeetingApplication, translate, router, ui, ui_router)
