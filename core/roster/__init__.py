"""Rosters: who is on duty, reading and changing rosters, calendars, imports."""
