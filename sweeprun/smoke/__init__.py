"""CI smoke sweeps: which configurations to try, and their JUnit/step-summary reports."""
