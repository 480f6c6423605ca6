"""The Telegram transport and bot (python-telegram-bot 22)."""

from __future__ import annotations

import os

# Opt in to PTB 22's announced behaviour: time periods (RetryAfter.retry_after) are
# timedeltas. Without it PTB emits a deprecation warning on every rate limit, which
# `filterwarnings = error` turns into an exception in the middle of error handling.
os.environ.setdefault("PTB_TIMEDELTA", "true")

from bots.telegram.bot import TelegramBot
from bots.telegram.transport import TelegramTransport
from core.ports import DeliveryLimits

__all__ = ["DeliveryLimits", "TelegramBot", "TelegramTransport"]
