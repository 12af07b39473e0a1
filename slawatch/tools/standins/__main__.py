"""`python -m slawatch.tools.standins`: run the local Twilio and SendGrid stand-ins in front."""

from slawatch.tools.standins.stack import main

main()
