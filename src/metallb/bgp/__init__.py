"""The BGP protocol engine, pure: the RFC 4271 session state machine (:mod:`.fsm`).

It is driven by explicit events and time and returns actions; :mod:`metallb.net.bgp`
runs it over TCP for the speaker's native sessions, and :mod:`metallb.codec.bgp` encodes
and decodes the messages. What a node advertises is decided elsewhere
(:mod:`metallb.speaker.bgp_decision`).
"""
