package main

// Node events with the node's state as memberlist decided it. In v0.5.1 the Node handed
// to an EventDelegate carries the State of when it joined (memberlist keeps the current
// one in its private nodeState, which shadows Node.State), so a NodeLeave cannot tell
// dead from left by itself. The library calls the delegate while it holds its node lock
// right after setting the state, so reading that state there (by reflection: it is not
// exported) is exact. Otherwise this is upstream's ChannelEventDelegate: a non-blocking
// hand-off to a big buffered channel.

import (
	"reflect"
	"sync/atomic"

	"github.com/hashicorp/memberlist"
)

type stateEvents struct {
	ch chan<- memberlist.NodeEvent
	ml atomic.Pointer[memberlist.Memberlist]
}

func (d *stateEvents) send(kind memberlist.NodeEventType, n *memberlist.Node) {
	node := *n
	if ml := d.ml.Load(); ml != nil {
		entry := reflect.ValueOf(ml).Elem().FieldByName("nodeMap").MapIndex(reflect.ValueOf(n.Name))
		if entry.IsValid() && !entry.IsNil() {
			node.State = memberlist.NodeStateType(entry.Elem().FieldByName("State").Int())
		}
	}
	d.ch <- memberlist.NodeEvent{Event: kind, Node: &node}
}

func (d *stateEvents) NotifyJoin(n *memberlist.Node)   { d.send(memberlist.NodeJoin, n) }
func (d *stateEvents) NotifyLeave(n *memberlist.Node)  { d.send(memberlist.NodeLeave, n) }
func (d *stateEvents) NotifyUpdate(n *memberlist.Node) { d.send(memberlist.NodeUpdate, n) }
