from __future__ import annotations

from sweeprun.cli import main

if __name__ == "__main__":
    main()
