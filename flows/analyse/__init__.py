"""The analyse conversation: its commands, buttons and pure step."""
