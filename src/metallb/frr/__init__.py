"""FRR as a BGP back-end, pure: the speaker's BGP decisions rendered for FRR, and back.

- :mod:`.render`: a node's whole FRR configuration (``METALLB_BGP_TYPE=frr``) from the
  configuration and the node's advertisements (:mod:`metallb.speaker.bgp_decision`);
- :mod:`.diff`: the difference between FRR's running configuration and the rendered one,
  as commands that leave unchanged sessions alone;
- :mod:`.status`: FRR's ``show ... json`` output read back as session and BFD metrics;
- :mod:`.frrk8s`: the ``FRRConfiguration`` object of ``METALLB_BGP_TYPE=frr-k8s``.

The adapters that apply them: :mod:`metallb.net.frr` (vtysh, frr-reload) and
:mod:`metallb.k8s.speaker_frrk8s` (the FRRConfiguration object).
"""
