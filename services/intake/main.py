"""Wiring point of the intake service."""

from services.intake.api import router
from services.intake.application import IntakeApplication
from services.intake.translate import translate
from shared.http import create_service

api = create_service("intake", IntakeApplication, translate, router)
