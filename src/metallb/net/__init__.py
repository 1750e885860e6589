"""Network adapter: raw sockets, netlink, BGP sessions and the membership transport (asyncio)."""
