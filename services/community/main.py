"""Wiring point of the community service."""

from services.community.api import router
from services.community.application import CommunityApplication
from services.community.translate import translate
from shared.http import create_service

api = create_service("community", CommunityApplication, translate, router)
