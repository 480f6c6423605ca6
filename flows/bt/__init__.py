"""The beleidsteam in the chat: convening, attendance answers, decisions, logbook."""
