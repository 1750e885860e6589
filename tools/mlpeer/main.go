// Command mlpeer is a hashicorp/memberlist member configured the way upstream MetalLB's
// speaker configures it (internal/speakerlist/speakerlist.go): the tests run it beside our
// Python members to prove the two speak one protocol. Optionally it also answers ARP for
// a few IPs the way an upstream Layer 2 speaker does (speaker/layer2_controller.go picks
// the owner, internal/layer2 answers), so a test can roll upstream speakers over to ours.
//
// Its command line and output mirror `python -m bench.membership_demo`: JSON lines
// on stdout, each with "type", "node" and "mono" (CLOCK_MONOTONIC seconds, the clock of
// Python's time.monotonic(), so a bench subtracts one process's times from another's):
//
//	ready                 the sockets are bound
//	up / down / update    a membership change: name, state (alive/suspect/dead/left), address
//	stats                 the live members (alive or suspect, ourselves included)
//	announce / withdraw   with --vip: this node starts or stops answering ARP for ip
//
// SIGTERM or SIGINT leaves the cluster gracefully (as upstream's SpeakerList.Stop).
package main

import (
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/memberlist"
	"golang.org/x/sys/unix"
)

// repeated is a flag that may be given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// output writes JSON lines; goroutines (events, stats, ARP) share it.
type output struct {
	mu   sync.Mutex
	node string
	w    io.Writer
}

func monotonic() float64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(err)
	}
	return float64(ts.Sec) + float64(ts.Nsec)/1e9
}

func (o *output) emit(kind string, fields map[string]any) {
	line := map[string]any{"type": kind, "node": o.node, "mono": monotonic()}
	for k, v := range fields {
		line[k] = v
	}
	b, err := json.Marshal(line)
	if err != nil {
		panic(err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	_, _ = o.w.Write(append(b, '\n'))
}

// stateName names memberlist's node states as our demo does.
func stateName(s memberlist.NodeStateType) string {
	switch s {
	case memberlist.StateAlive:
		return "alive"
	case memberlist.StateSuspect:
		return "suspect"
	case memberlist.StateDead:
		return "dead"
	case memberlist.StateLeft:
		return "left"
	}
	return strconv.Itoa(int(s))
}

// eventKind maps memberlist's events to the demo's: NodeLeave is both dead and left.
var eventKind = map[memberlist.NodeEventType]string{
	memberlist.NodeJoin:   "up",
	memberlist.NodeLeave:  "down",
	memberlist.NodeUpdate: "update",
}

// seedAddr accepts IP, IPv4:PORT or [IPv6]:PORT, as the demo's --seed does.
func seedAddr(text string, port int) string {
	if _, _, err := net.SplitHostPort(text); err == nil {
		return text
	}
	return net.JoinHostPort(strings.Trim(text, "[]"), strconv.Itoa(port))
}

// secretKey derives the key exactly as upstream's speaker does: sha256.New().Sum(secret)
// appends the digest of nothing to the secret, and the first 32 bytes are the key (so a
// secret of 32 bytes or more is its own first 32 bytes).
func secretKey(secret []byte) []byte {
	return sha256.New().Sum(secret)[:32]
}

func main() {
	var seeds, vips repeated
	name := flag.String("name", "", "member name (the node name)")
	advertise := flag.String("advertise", "", "address other members reach us on")
	bind := flag.String("bind", "", "address to bind (default: --advertise)")
	port := flag.Int("port", 7946, "UDP and TCP port (upstream's ml-bindport)")
	secretFile := flag.String("secret-file", "", "file holding the secretkey value")
	statsInterval := flag.Float64("stats-interval", 1.0, "seconds between stats lines")
	rejoin := flag.Float64("rejoin-interval", 60, "seconds between joins of seeds not yet members (upstream: 1 minute)")
	iface := flag.String("iface", "eth0", "interface to answer ARP on (with --vip)")
	joinTimeout := flag.Float64("join-timeout", 5, "with --vip and seeds: seconds to wait for a join before electing alone")
	flag.Var(&seeds, "seed", "IP or IP:PORT to join through (repeatable)")
	flag.Var(&vips, "vip", "IPv4 address to answer ARP for when elected (repeatable)")
	flag.Parse()
	if *name == "" || *advertise == "" {
		fmt.Fprintln(os.Stderr, "mlpeer: --name and --advertise are required")
		os.Exit(2)
	}
	if *bind == "" {
		*bind = *advertise
	}
	out := &output{node: *name, w: os.Stdout}

	// As upstream: the LAN defaults, the node name, the bind address and port, a logger,
	// the key from the Secret, and a big event channel (the delegate must not block).
	cfg := memberlist.DefaultLANConfig()
	cfg.Name = *name
	cfg.BindAddr = *bind
	cfg.BindPort = *port
	cfg.AdvertisePort = *port
	if *advertise != *bind {
		cfg.AdvertiseAddr = *advertise
	}
	cfg.Logger = log.New(os.Stderr, *name+" ", log.LstdFlags|log.Lmicroseconds)
	if *secretFile != "" {
		secret, err := os.ReadFile(*secretFile)
		if err != nil {
			log.Fatalf("mlpeer: --secret-file: %v", err)
		}
		// The value as stored, as upstream (its speaker gets it from the Secret through
		// an environment variable); empty means unencrypted, as upstream's empty flag.
		if len(secret) > 0 {
			cfg.SecretKey = secretKey(secret)
		}
	}
	events := make(chan memberlist.NodeEvent, 1024)
	delegate := &stateEvents{ch: events}
	cfg.Events = delegate

	ml, err := memberlist.Create(cfg)
	if err != nil {
		log.Fatalf("mlpeer: memberlist.Create: %v", err)
	}
	delegate.ml.Store(ml)
	out.emit("ready", map[string]any{"address": []any{*advertise, *port}})

	var speaker *l2speaker
	if len(vips) > 0 {
		speaker, err = newL2Speaker(*name, *iface, vips, out)
		if err != nil {
			log.Fatalf("mlpeer: --vip: %v", err)
		}
	}
	// With seeds, the election starts once joined (or after --join-timeout alone), as in
	// bench/l2_member.py: a real speaker learns its peers' IPs and its Services from one
	// apiserver sync, so it does not announce as the only member of a cluster it has not
	// yet joined; this program has no apiserver and stands in for that wait.
	joined := make(chan struct{})
	var joinOnce sync.Once
	markJoined := func() { joinOnce.Do(func() { close(joined) }) }
	if len(seeds) == 0 {
		markJoined()
	}
	go func() {
		select {
		case <-joined:
		case <-time.After(time.Duration(*joinTimeout * float64(time.Second))):
		}
		if speaker != nil {
			speaker.start(ml.Members())
		}
	}()

	go func() {
		for e := range events {
			out.emit(eventKind[e.Event], map[string]any{
				"name":    e.Node.Name,
				"state":   stateName(e.Node.State),
				"address": []any{e.Node.Addr.String(), e.Node.Port},
			})
			// Upstream forces a resync on every event, which re-runs the election.
			if speaker != nil {
				speaker.elect(ml.Members())
			}
		}
	}()

	addrs := make([]string, 0, len(seeds))
	for _, s := range seeds {
		addrs = append(addrs, seedAddr(s, *port))
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go joinLoop(ml, addrs, time.Duration(*rejoin*float64(time.Second)), markJoined)

	stats := time.NewTicker(time.Duration(*statsInterval * float64(time.Second)))
	emitStats := func() {
		names := []string{}
		for _, n := range ml.Members() {
			names = append(names, n.Name)
		}
		out.emit("stats", map[string]any{"members": names, "health_score": ml.GetHealthScore()})
	}
	for {
		select {
		case <-stats.C:
			emitStats()
		case <-stop:
			// Upstream's order: the speaker leaves (SpeakerList.Stop, deferred in main)
			// and its ARP responder answers until the process exits.
			if err := ml.Leave(time.Second); err != nil {
				log.Printf("mlpeer: leave: %v", err)
			}
			emitStats()
			_ = ml.Shutdown()
			if speaker != nil {
				speaker.close()
			}
			return
		}
	}
}

// joinLoop joins the seeds that are not members yet, as upstream's mlJoin does every
// minute. Until the first join succeeds it retries every second: upstream's first join is
// prompted by the Node informer's initial sync, when every peer may still be starting.
func joinLoop(ml *memberlist.Memberlist, seeds []string, every time.Duration, onJoined func()) {
	if len(seeds) == 0 {
		return
	}
	joined := false
	for {
		members := map[string]bool{}
		for _, n := range ml.Members() {
			members[net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))] = true
		}
		var missing []string
		for _, s := range seeds {
			if !members[s] {
				missing = append(missing, s)
			}
		}
		if len(missing) == 0 {
			joined = true // the seeds joined us
		} else {
			n, err := ml.Join(missing)
			if n > 0 {
				joined = true
			}
			if err != nil {
				log.Printf("mlpeer: partial join: %d of %d (%v)", n, len(missing), err)
			}
		}
		if joined {
			onJoined()
			time.Sleep(every)
		} else {
			time.Sleep(time.Second)
		}
	}
}
