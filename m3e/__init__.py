"""M3E-VSC: generative multi-modal mutual-enhancement video semantic communication."""

import os

# OpenMP's threads (torch, onnxruntime) spin while they wait for work by default; on a machine
# where another program holds a core they then fight it, and the text link's encode + decode
# took 329 ms instead of 75. Passive waiting costs ~7 ms idle (82 ms) and keeps it at 113 ms busy
# (bench.text_link --timing-only). Set before any of them is imported; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
