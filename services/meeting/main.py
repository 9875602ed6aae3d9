"""Wiring point of the meeting service."""

from services.meeting.api import router
from services.meeting.application import MeetingApplication
from services.meeting.translate import translate
from shared.http import create_service

api = create_service("meeting", MeetingApplication, translate, router)
