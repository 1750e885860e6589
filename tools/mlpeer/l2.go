package main

// The Layer 2 part: which live member owns each IP, and answering ARP for the IPs this
// node owns. It follows upstream's behaviour (speaker/layer2_controller.go orders the
// candidates by SHA-256 of "node#ip" ascending and the first owns the IP; every
// memberlist event re-runs it; internal/layer2/arp.go answers broadcast or unicast
// requests for an owned IP with the interface's MAC, and sends a gratuitous request and
// reply when it starts owning one) with nothing of Kubernetes: every IP is announced by
// the winner among the memberlist members (alive or suspect).

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"log"
	"net"
	"sync"

	"github.com/hashicorp/memberlist"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
)

type l2speaker struct {
	name   string
	iface  *net.Interface
	client *arp.Client
	vips   []net.IP
	out    *output

	mu      sync.Mutex
	owned   map[string]bool // IP text -> this node answers for it
	started bool            // elections run (see main: after the first join)
	closed  bool
}

func newL2Speaker(name, iface string, vips []string, out *output) (*l2speaker, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("interface %q: %w", iface, err)
	}
	client, err := arp.Dial(ifi)
	if err != nil {
		return nil, fmt.Errorf("ARP on %q: %w", iface, err)
	}
	s := &l2speaker{name: name, iface: ifi, client: client, out: out, owned: map[string]bool{}}
	for _, v := range vips {
		ip := net.ParseIP(v).To4()
		if ip == nil {
			return nil, fmt.Errorf("--vip %q is not an IPv4 address", v)
		}
		s.vips = append(s.vips, ip)
	}
	go s.serve()
	return s, nil
}

// winner is upstream's order with no preferences: the least SHA-256 of "node#ip".
func winner(members []*memberlist.Node, ip string) string {
	best, bestHash := "", []byte(nil)
	for _, n := range members {
		h := sha256.Sum256([]byte(n.Name + "#" + ip))
		if bestHash == nil || bytes.Compare(h[:], bestHash) < 0 {
			best, bestHash = n.Name, h[:]
		}
	}
	return best
}

// start lets elections run, and runs the first.
func (s *l2speaker) start(members []*memberlist.Node) {
	s.mu.Lock()
	s.started = true
	s.mu.Unlock()
	s.elect(members)
}

// elect re-runs the election on the current members and starts or stops answering.
func (s *l2speaker) elect(members []*memberlist.Node) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || !s.started {
		return
	}
	for _, ip := range s.vips {
		key := ip.String()
		mine := winner(members, key) == s.name
		if mine == s.owned[key] {
			continue
		}
		s.owned[key] = mine
		if mine {
			s.out.emit("announce", map[string]any{"ip": key, "mac": s.iface.HardwareAddr.String()})
			s.gratuitous(ip)
		} else {
			s.out.emit("withdraw", map[string]any{"ip": key})
		}
	}
}

func (s *l2speaker) gratuitous(ip net.IP) {
	for _, op := range []arp.Operation{arp.OperationRequest, arp.OperationReply} {
		pkt, err := arp.NewPacket(op, s.iface.HardwareAddr, ip, ethernet.Broadcast, ip)
		if err == nil {
			err = s.client.WriteTo(pkt, ethernet.Broadcast)
		}
		if err != nil {
			log.Printf("mlpeer: gratuitous ARP for %s: %v", ip, err)
		}
	}
}

func (s *l2speaker) answers(ip net.IP) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.closed && s.owned[ip.String()]
}

// serve answers requests for owned IPs until close.
func (s *l2speaker) serve() {
	for {
		pkt, eth, err := s.client.Read()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return
			}
			log.Printf("mlpeer: ARP read: %v", err)
			continue
		}
		if pkt.Operation != arp.OperationRequest {
			continue
		}
		if !bytes.Equal(eth.Destination, ethernet.Broadcast) && !bytes.Equal(eth.Destination, s.iface.HardwareAddr) {
			continue
		}
		if !s.answers(pkt.TargetIP) {
			continue
		}
		if err := s.client.Reply(pkt, s.iface.HardwareAddr, pkt.TargetIP); err != nil {
			log.Printf("mlpeer: ARP reply for %s: %v", pkt.TargetIP, err)
		}
	}
}

// close stops answering (at exit, after the leave).
func (s *l2speaker) close() {
	s.mu.Lock()
	s.closed = true
	for ip, mine := range s.owned {
		if mine {
			s.out.emit("withdraw", map[string]any{"ip": ip})
		}
	}
	s.mu.Unlock()
	_ = s.client.Close()
}
