"""`python -m services.community`: run the community service."""

from services.community.main import api
from shared.web.serve import serve

serve("community", api)
