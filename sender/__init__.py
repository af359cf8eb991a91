"""The sender process: sources -> semantics -> codecs -> phy -> wire (issue 3 onwards).

A thin process around the core library ``m3e``; not built yet.
"""
