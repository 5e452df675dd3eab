"""Bridges to other tools: MLflow tracking, the W&B hook, framework callbacks."""
