"""`python -m services.meeting`: run the meeting service."""

from services.meeting.main import api
from shared.web.serve import serve

serve("meeting", api)
