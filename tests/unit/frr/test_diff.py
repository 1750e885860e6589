"""The FRR delta: tables of small cases, and a property over real renderings: running
``delta(old, new)`` on a model of FRR holding ``old`` leaves it holding ``new``.

The model (:func:`run`) is what we know of FRR 8.4's commands, strict where FRR is: a
``no`` for a line FRR does not hold fails, a neighbour's lines need its ``remote-as``
first, and ``no router bgp`` of the default instance fails while VRF instances exist.
``tests/integration/frr`` checks the same deltas against the real FRR.
"""

from __future__ import annotations

import re
from ipaddress import ip_network
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from metallb.config.community import Community
from metallb.config.types import BFDProfile
from metallb.frr import render as frr_render
from metallb.frr.diff import SUB, TOP, Config, Key, delta, owned, parse, slot
from metallb.speaker.bgp_decision import Route

GOLDEN = Path(__file__).parent / "golden"
Model = dict[Key, set[str]]


class RefusedError(AssertionError):
    """The model FRR would answer this command with an error."""


def _neighbor_known(model: Model, router: str, line: str) -> None:
    words = line.split()
    if words[0] != "neighbor" or (slot(line) or "").endswith(" remote-as"):
        return
    lines = model[(router,)]
    if not any((slot(x) or "") == f"neighbor {words[1]} remote-as" for x in lines):
        raise RefusedError(f"{line!r}: neighbor {words[1]} has no remote-as")


def run(script: list[str], model: Model) -> None:
    """Execute a vtysh script on ``model`` (contexts -> lines), as FRR would."""
    stack: list[str] = []
    for raw in script:
        line = raw.strip()
        if line in ("exit", "exit-address-family"):
            stack.pop()
            continue
        key = tuple(stack)
        if (not stack and TOP.match(line)) or (len(stack) == 1 and SUB.match(line)):
            model.setdefault((*key, line), set())
            stack.append(line)
            continue
        model.setdefault(key, set())
        router = stack[0] if stack and stack[0].startswith("router bgp") else None
        setting = router is not None and len(stack) == 1 and line.startswith("no bgp ")
        if line.startswith("no ") and line[3:] in model[key]:
            model[key].remove(line[3:])
            continue
        if line.startswith("no ") and not setting:
            target = line[3:]
            doomed = (*key, target)
            if (not stack and target.startswith(("router bgp ", "route-map "))) or (
                len(stack) == 1 and target.startswith("profile ")
            ):
                if doomed not in model:
                    raise RefusedError(f"{line!r}: no such block")
                default = target.startswith("router bgp") and " vrf " not in target
                vrfs = [k for k in model if k and k[0].startswith("router bgp") and " vrf " in k[0]]
                if default and vrfs:
                    raise RefusedError(f"{line!r}: VRF instances exist")
                for k in [k for k in model if k[: len(doomed)] == doomed]:
                    del model[k]
                continue
            if router and len(stack) == 1 and re.fullmatch(r"neighbor \S+", target):
                if not any(x.startswith(target + " ") for x in model[key]):
                    raise RefusedError(f"{line!r}: no such neighbour")
                for k in [k for k in model if k[:1] == key]:
                    model[k] = {x for x in model[k] if not x.startswith(target + " ")}
                continue
            if target not in model[key]:
                raise RefusedError(f"{line!r}: not configured in {key}")
            model[key].remove(target)
            continue
        if f"no {line}" in model[key]:  # "bgp x" undoes "no bgp x"
            model[key].remove(f"no {line}")
            continue
        if router:
            _neighbor_known(model, router, line)
        s = slot(line)
        if s is not None:
            model[key] = {x for x in model[key] if slot(x) != s}
        model[key].add(line)
    assert not stack, f"script leaves contexts open: {stack}"


def shown(model: Model) -> dict[Key, frozenset[str]]:
    """What ``show running-config`` would list: empty blocks that are not objects in
    their own right (an address family, ``bfd``, the top level) are not shown."""
    return {
        k: frozenset(v)
        for k, v in model.items()
        if v or (k and k[-1].startswith(("router ", "route-map ", "profile ")))
    }


def check(old: Config, new: Config) -> list[str]:
    model = {k: set(v) for k, v in old.contexts.items()}
    script = delta(old, new)
    run(script, model)
    assert shown(model) == shown({k: set(v) for k, v in new.contexts.items()})
    return script


def goldens() -> list[Config]:
    return [parse(p.read_text()) for p in sorted(GOLDEN.glob("frr_*.conf"))]


# -- tables -----------------------------------------------------------------------------

BASE = """\
frr defaults traditional
hostname node
!
ip prefix-list mlb-a-ipv4-1 seq 10 permit 198.51.100.1/32
!
route-map mlb-a-out permit 5
 match ip address prefix-list mlb-a-ipv4-1
 set community 64512:1
exit
!
route-map mlb-a-out deny 65535
exit
!
router bgp 64512
 no bgp default ipv4-unicast
 neighbor 192.0.2.1 remote-as 64512
 neighbor 192.0.2.1 bfd
 neighbor 192.0.2.1 bfd profile fast
 neighbor 192.0.2.2 remote-as 65000
 !
 address-family ipv4 unicast
  network 198.51.100.1/32
  neighbor 192.0.2.1 activate
  neighbor 192.0.2.1 route-map mlb-a-out out
  neighbor 192.0.2.2 activate
 exit-address-family
exit
!
bfd
 profile fast
  receive-interval 100
 exit
 !
exit
"""


def edit(text: str, *pairs: tuple[str, str]) -> str:
    for a, b in pairs:
        assert a in text, a
        text = text.replace(a, b)
    return text


def test_parse_contexts() -> None:
    c = parse(BASE)
    assert list(c.contexts) == [
        (),
        ("route-map mlb-a-out permit 5",),
        ("route-map mlb-a-out deny 65535",),
        ("router bgp 64512",),
        ("router bgp 64512", "address-family ipv4 unicast"),
        ("bfd",),
        ("bfd", "profile fast"),
    ]
    assert c.lines(()) == (
        "hostname node",
        "ip prefix-list mlb-a-ipv4-1 seq 10 permit 198.51.100.1/32",
    )
    assert c.lines(("route-map mlb-a-out deny 65535",)) == ()
    assert c.lines(("bfd", "profile fast")) == ("receive-interval 100",)


def test_same_config_is_no_script() -> None:
    assert delta(parse(BASE), parse(BASE)) == []
    for g in goldens():
        assert delta(g, g) == []


def test_add_one_prefix() -> None:
    new = edit(
        BASE,
        (
            "permit 198.51.100.1/32\n",
            "permit 198.51.100.1/32\nip prefix-list mlb-a-ipv4-1 seq 20 permit 198.51.100.2/32\n",
        ),
        ("  network 198.51.100.1/32\n", "  network 198.51.100.1/32\n  network 198.51.100.2/32\n"),
    )
    assert check(parse(BASE), parse(new)) == [
        "ip prefix-list mlb-a-ipv4-1 seq 20 permit 198.51.100.2/32",
        "router bgp 64512",
        " address-family ipv4 unicast",
        "  network 198.51.100.2/32",
        " exit-address-family",
        "exit",
    ]


def test_remove_one_prefix() -> None:
    old = edit(
        BASE,
        (
            "permit 198.51.100.1/32\n",
            "permit 198.51.100.1/32\nip prefix-list mlb-a-ipv4-1 seq 20 permit 198.51.100.2/32\n",
        ),
        ("  network 198.51.100.1/32\n", "  network 198.51.100.1/32\n  network 198.51.100.2/32\n"),
    )
    assert check(parse(old), parse(BASE)) == [
        "router bgp 64512",
        " address-family ipv4 unicast",
        "  no network 198.51.100.2/32",
        " exit-address-family",
        "exit",
        "no ip prefix-list mlb-a-ipv4-1 seq 20 permit 198.51.100.2/32",
    ]


def test_deleted_neighbour_goes_in_one_command() -> None:
    new = edit(
        BASE,
        (" neighbor 192.0.2.2 remote-as 65000\n", ""),
        ("  neighbor 192.0.2.2 activate\n", ""),
    )
    assert check(parse(BASE), parse(new)) == ["router bgp 64512", " no neighbor 192.0.2.2", "exit"]


def test_single_valued_lines_are_replaced_not_removed() -> None:
    new = edit(
        BASE,
        ("remote-as 65000", "remote-as 65001"),
        ("set community 64512:1", "set community 64512:2"),
        ("  network 198.51.100.1/32", "  network 198.51.100.1/32 route-map x"),
        ("receive-interval 100", "receive-interval 300"),
    )
    script = check(parse(BASE), parse(new))
    assert not [line for line in script if line.strip().startswith("no ")]
    assert " neighbor 192.0.2.2 remote-as 65001" in script


def test_bfd_lines_removed_profile_first_and_profile_deleted() -> None:
    new = edit(
        BASE,
        (" neighbor 192.0.2.1 bfd\n neighbor 192.0.2.1 bfd profile fast\n", ""),
        ("bfd\n profile fast\n  receive-interval 100\n exit\n !\nexit\n", ""),
    )
    assert check(parse(BASE), parse(new)) == [
        "router bgp 64512",
        " no neighbor 192.0.2.1 bfd profile fast",
        " no neighbor 192.0.2.1 bfd",
        "exit",
        "bfd",
        " no profile fast",
        "exit",
    ]


def test_router_replaced_vrf_instances_deleted_first() -> None:
    old = BASE + "router bgp 64512 vrf red\n neighbor 192.0.2.9 remote-as 65000\nexit\n"
    new = edit(
        old, ("router bgp 64512\n", "router bgp 64513\n"), ("64512 vrf red", "64513 vrf red")
    )
    script = check(parse(old), parse(new))
    assert script[:2] == ["no router bgp 64512 vrf red", "no router bgp 64512"]


def test_route_map_entry_deleted_whole() -> None:
    new = edit(
        BASE,
        (
            "route-map mlb-a-out permit 5\n match ip address prefix-list mlb-a-ipv4-1\n"
            " set community 64512:1\nexit\n",
            "",
        ),
    )
    assert check(parse(BASE), parse(new)) == ["no route-map mlb-a-out permit 5"]


def test_goldens_pairwise() -> None:
    configs = goldens()
    for old in configs:
        for new in configs:
            check(old, new)
        check(parse(""), old)
        check(old, parse(""))


RUNNING = """\
Building configuration...

Current configuration:
!
frr version 8.4.4
frr defaults traditional
hostname vm
log file /tmp/old.log
no ip forwarding
no ipv6 forwarding
service integrated-vtysh-config
!
ip prefix-list mlb-a-ipv4-1 seq 10 permit 198.51.100.1/32
!
interface eth0
 ipv6 nd ra-interval 10
exit
!
router bgp 64512
 neighbor 192.0.2.1 remote-as 64512
 neighbor 192.0.2.1 ebgp-multihop 255
exit
!
bfd
exit
!
end
"""


def test_owned_keeps_only_what_the_backend_writes() -> None:
    c = owned(parse(RUNNING))
    assert c.contexts == {
        (): ("log file /tmp/old.log", "ip prefix-list mlb-a-ipv4-1 seq 10 permit 198.51.100.1/32"),
        ("router bgp 64512",): (
            "neighbor 192.0.2.1 remote-as 64512",
            "neighbor 192.0.2.1 ebgp-multihop",
        ),
        ("bfd",): (),
    }
    script = delta(c, parse(BASE))
    assert "ip forwarding" not in script
    assert " ipv6 nd ra-interval 10" not in script
    assert " no neighbor 192.0.2.1 ebgp-multihop" in script


def test_owned_takes_the_bfd_block_from_bfdd() -> None:
    bgpd = parse("router bgp 64512\n neighbor 192.0.2.1 remote-as 64512\nexit\n")
    bfdd = parse(
        "ip prefix-list x seq 1 permit 198.51.100.1/32\n"
        "bfd\n profile fast\n  echo-mode\n exit\nexit\n"
    )
    c = owned(bgpd, bfdd)
    assert c.contexts == {
        ("router bgp 64512",): ("neighbor 192.0.2.1 remote-as 64512",),
        ("bfd",): (),
        ("bfd", "profile fast"): ("echo-mode",),
    }


# -- the property -----------------------------------------------------------------------

PREFIXES = [ip_network(p) for p in ("198.51.100.1/32", "198.51.100.2/32", "198.51.100.128/25")]
PREFIXES += [ip_network(p) for p in ("2001:db8:100::1/128", "2001:db8:100::2/128")]
COMMUNITIES = [Community.classic(64512, 1), Community.classic(64512, 2)]
LARGES = [Community((64512, 1, 2), True)]
PEERS = [
    ("a", "192.0.2.1", ""),
    ("b", "192.0.2.2", ""),
    ("c", "2001:db8::3", ""),
    ("u", "", "eth0"),
]

routes = st.builds(
    Route,
    st.sampled_from(PREFIXES),
    st.sampled_from([None, 0, 150]),
    st.lists(st.sampled_from(COMMUNITIES), unique=True).map(lambda c: tuple(sorted(c))),
    st.lists(st.sampled_from(LARGES), unique=True).map(tuple),
)


@st.composite
def neighbor(draw: st.DrawFn, who: tuple[str, str, str]) -> frr_render.Neighbor:
    name, address, interface = who
    hold = draw(st.sampled_from([None, 9, 30]))
    rs = draw(st.lists(routes, max_size=4, unique_by=lambda r: r.prefix))
    return frr_render.Neighbor(
        name=name,
        address=address,
        interface=interface,
        remote_as=draw(st.sampled_from(["64512", "65000", "external"])),
        port=draw(st.sampled_from([179, 1179])),
        local_asn=draw(st.sampled_from([0, 64999])),
        password=draw(st.sampled_from(["", "s3cret", "other"])),
        ebgp_multihop=draw(st.booleans()),
        hold_time=hold,
        keepalive_time=draw(st.sampled_from([None, 3])) if hold else None,
        connect_time=draw(st.sampled_from([None, 5])),
        source_address=draw(st.sampled_from(["", "192.0.2.10"])),
        bfd_profile=draw(st.sampled_from(["", "fast", "slow"])),
        graceful_restart=draw(st.booleans()),
        dual_stack=draw(st.booleans()),
        routes=tuple(sorted(rs, key=frr_render._route_key)),
    )


@st.composite
def node_configs(draw: st.DrawFn) -> frr_render.NodeConfig:
    routers = []
    for vrf in draw(st.lists(st.sampled_from(["", "red", "blue"]), unique=True, max_size=2)):
        who = draw(st.lists(st.sampled_from(PEERS), unique=True, max_size=3))
        nbrs = sorted((draw(neighbor(w)) for w in who), key=lambda n: n.key)
        asn = draw(st.sampled_from([64512, 64513]))
        rid = draw(st.sampled_from(["", "192.0.2.10", "192.0.2.11"]))
        routers.append(frr_render.Router(asn, vrf, rid, tuple(nbrs)))
    routers.sort(key=lambda r: (r.vrf, r.asn))
    profiles = [
        BFDProfile(
            name,
            draw(st.sampled_from([None, 100, 300])),
            None,
            draw(st.sampled_from([None, 3, 5])),
            None,
            draw(st.booleans()),
            False,
            None,
        )
        for name in draw(st.lists(st.sampled_from(["fast", "slow"]), unique=True))
    ]
    log = draw(st.sampled_from(["", "/tmp/frr.log"]))
    return frr_render.NodeConfig(
        "node", tuple(routers), tuple(sorted(profiles, key=lambda p: p.name)), log
    )


@settings(max_examples=400, deadline=None)
@given(node_configs(), node_configs())
def test_delta_turns_old_into_new(old: frr_render.NodeConfig, new: frr_render.NodeConfig) -> None:
    a, b = parse(frr_render.render(old)), parse(frr_render.render(new))
    check(a, b)
    assert delta(b, b) == []


@settings(max_examples=100, deadline=None)
@given(st.lists(node_configs(), min_size=2, max_size=5))
def test_a_chain_of_deltas(states: list[frr_render.NodeConfig]) -> None:
    model: Model = {}
    prev = parse("")
    for s in states:
        cur = parse(frr_render.render(s))
        run(delta(prev, cur), model)
        assert shown(model) == shown({k: set(v) for k, v in cur.contexts.items()})
        prev = cur
