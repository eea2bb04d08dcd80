"""End-to-end and chaos tests: the CLI starts every component as a real process."""
