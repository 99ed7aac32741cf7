package node

// ack.go: read-your-writes (issue 17 item 5), the node's part: a member
// answers when it has processed an index (WaitProcessed); the leader's
// waiting for its members is the write path's (writes/ack.go, which
// says why).

import (
	"context"
	"time"
)

// DefaultAckWait is group.ack_wait's default.
const DefaultAckWait = time.Second

// WaitProcessed implements admin.Node.
func (a adminNode) WaitProcessed(ctx context.Context, index uint64) (uint64, error) {
	fsm, _, _, err := a.n.runningParts()
	if err != nil {
		return 0, err
	}
	return fsm.WaitProcessed(ctx, index)
}

// processed is the state machine's Processed index, 0 before it runs.
func (n *Node) processed() uint64 {
	fsm, _, _, err := n.runningParts()
	if err != nil {
		return 0
	}
	return fsm.Processed()
}
