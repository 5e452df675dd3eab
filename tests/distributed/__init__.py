"""distributed tests."""
