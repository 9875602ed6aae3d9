"""`python -m services.outreach`: run the outreach service."""

from services.outreach.main import api
from shared.web.serve import serve

serve("outreach", api)
