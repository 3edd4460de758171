"""Text messages out and in through Twilio: the gateway that sends due rows and checks webhooks."""
