"""`python -m services.participation`: run the participation service."""

from services.participation.main import api
from shared.web.serve import serve

serve("participation", api)
