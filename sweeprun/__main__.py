from __future__ import annotations

from sweeprun.cli.main import main

if __name__ == "__main__":
    main()
