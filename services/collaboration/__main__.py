"""`python -m services.collaboration`: run the collaboration service."""

from services.collaboration.main import api
from shared.serve import serve

serve("collaboration", api)
