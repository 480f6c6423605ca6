"""The Slack transport and adapter: Block Kit rendering, Web API delivery, bolt intake."""

from __future__ import annotations

from bots.slack.bot import SlackBot
from bots.slack.transport import SlackTransport

__all__ = ["SlackBot", "SlackTransport"]
