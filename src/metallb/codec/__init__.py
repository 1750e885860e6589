"""Packet codecs (ARP, NDP, BGP) as pure functions on bytes."""
