"""Wiring point of the collaboration service."""

from services.collaboration.api import router
from services.collaboration.application import CollaborationApplication
from services.collaboration.translate import translate
from shared.http import create_service

api = create_service("collaboration", CollaborationApplication, translate, router)
