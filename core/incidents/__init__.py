"""Incidents: raising, showing and closing them, paging and escalation."""
