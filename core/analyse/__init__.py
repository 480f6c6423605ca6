"""The strategische analyse: its form, answers, versions, team and rendering."""
