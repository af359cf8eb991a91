"""The channel-emulator process: a gRPC proxy that applies ``m3e.phy.channels`` to every
burst's symbols (issue 3 onwards). Imports only ``m3e.phy`` and the wire; not built yet.
"""
