"""Incidents in the chat: /alarm, /status, /sluit and the page buttons."""
