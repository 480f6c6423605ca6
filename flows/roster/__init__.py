"""The roster commands in the chat, and reading their text."""
