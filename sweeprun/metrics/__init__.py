"""One metric grammar: lines a trial prints → metric events → a per-trial summary."""
