"""Wiring point of the outreach service."""

from services.outreach.api import router
from services.outreach.application import OutreachApplication
from services.outreach.translate import translate
from shared.http import create_service

api = create_service("outreach", OutreachApplication, translate, router)
