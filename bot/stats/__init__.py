"""Stats: every engagement metric, demo data, the command line and the dashboard pages."""
