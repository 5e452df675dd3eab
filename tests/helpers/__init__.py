"""helpers tests."""
