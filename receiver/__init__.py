"""The receiver process: wire -> phy -> codecs -> restoration -> sinks (issue 3 onwards).

A thin process around the core library ``m3e``; not built yet.
"""
