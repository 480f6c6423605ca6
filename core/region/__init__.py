"""The region: its file, its gemeenten, and linking chat accounts to people."""
