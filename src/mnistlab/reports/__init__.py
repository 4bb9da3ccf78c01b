"""What runs found, compared and drawn: statistics, reports, pictures."""
