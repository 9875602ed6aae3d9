"""Wiring point of the meeting service."""

from services.meeting.api import router
from services.meeting.application import MeetingApplication
from services.meeting.held_cases import catching_up
from services.meeting.translate import translate
from services.meeting.ui import router as ui_router
from services.meeting.ui import ui
from shared.web.http import create_service

#: a store made before the meeting kept which cases outreach and participation hold reads them once at start-up (D6)
api = catching_up(create_service("meeting", MeetingApplication, translate, router, ui, ui_router))
