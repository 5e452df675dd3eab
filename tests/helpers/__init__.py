"""Shared test helpers, one module per concern (fixtures stay in ``tests/conftest.py``).

- ``paths``: the tests' directories, the child programs, the installed ``sweeprun`` command
- ``cli``: run the installed command (``run_cli``, ``spawn``/``finish``) and check its results
- ``wait``: ``wait_until(predicate, timeout)``, the one way a test waits for a condition
- ``studies``: read sweeps back from a storage (``trials_of``, ``load_trials``, ``counted`` ...)
- ``processes``: find, describe and kill the processes of a sweep
- ``services``: this machine's PostgreSQL / MariaDB / Redis, or a skip (a failure in CI)
- ``sweeps``: finished sweeps for the results commands to read
- ``pgprivate``: a private PostgreSQL server to stop and restart in fault tests
"""
