"""The languages a responder's pages may be written and spoken in (policy `responders.*.language`).

The texts themselves are in slawatch/messages.py (SMS) and slawatch/twiml.py (calls); a
test checks that each of these has them.
"""

from __future__ import annotations

LANGUAGES = ("en", "et", "ro")
