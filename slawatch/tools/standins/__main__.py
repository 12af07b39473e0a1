"""`python -m slawatch.standins`: run the local Twilio and SendGrid stand-ins in front."""

from slawatch.standins.stack import main

main()
