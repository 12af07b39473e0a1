"""Local stand-ins for Twilio (Prism + a recording proxy) and SendGrid (a capture server)."""
