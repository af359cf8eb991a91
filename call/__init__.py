"""The semantic video call (``m3e call``): two parties, each a sender and a receiver, both
directions through one channel emulator, and a call page."""
