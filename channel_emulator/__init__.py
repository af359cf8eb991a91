"""The channel-emulator process: a gRPC proxy that applies ``m3e.phy.channels`` to every
burst's symbols. ``channel`` is the channel core (one route's state, statistics, air-time
pacing), ``genie`` the judge of sentences, ``routes`` the directions it carries, ``server``
the gRPC servicers (protobuf only there). Imports only ``m3e`` core and the wire.
"""
