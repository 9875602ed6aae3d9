"""`python -m services.collaboration`: run the collaboration service."""

from services.collaboration.main import api
from shared.web.serve import serve

serve("collaboration", api)
