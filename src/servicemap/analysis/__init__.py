"""How well: coverage, force profiles, who is near, and planning."""
