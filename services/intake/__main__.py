"""`python -m services.intake`: run the intake service."""

from services.intake.main import api
from shared.web.serve import serve

serve("intake", api)
