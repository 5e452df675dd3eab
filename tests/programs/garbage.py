"""Write binary garbage (invalid UTF-8, NULs, a split multi-byte char) then a metric line."""

import os

os.write(1, b"\xff\xfe\x00\x01garbage\x80\n")
os.write(1, b"caf\xc3")  # the first byte of a two-byte character ...
os.write(1, b"\xa9 ok\n")  # ... completed by the next write
os.write(1, bytes(range(256)) + b"\n")
os.write(1, b'{"val_loss": 0.5}\n')
