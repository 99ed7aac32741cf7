package ops

import (
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ddnrs/ddnrs/internal/ports"
)

// TestDevRaftPorts: dev's Raft addresses, kept across runs, lie outside
// the ephemeral range; when another program holds one at a restart, dev
// says which address, which member and which file keeps it.
func TestDevRaftPorts(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	d, err := startDev(t, devOptions{Data: data})
	if err != nil {
		t.Fatalf("runDev: %v", err)
	}
	st, err := readGroupState(data)
	if err != nil || st == nil || len(st.Members) != devMembers {
		t.Fatalf("group state = %+v, %v; want %d members", st, err, devMembers)
	}
	eph := ports.Ephemeral()
	for _, m := range st.Members {
		_, p, err := net.SplitHostPort(m.Raft)
		if err != nil {
			t.Fatalf("%s raft address %q: %v", m.ID, m.Raft, err)
		}
		port, _ := strconv.Atoi(p)
		if port >= eph.Lo && port <= eph.Hi {
			t.Errorf("%s raft port %d is inside the ephemeral range %v", m.ID, port, eph)
		}
	}
	if err := d.stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}

	taken := st.Members[1]
	l, err := net.Listen("tcp", taken.Raft)
	if err != nil {
		t.Fatalf("taking %s: %v", taken.Raft, err)
	}
	t.Cleanup(func() { l.Close() })
	_, err = startDev(t, devOptions{Data: data})
	var he *hintError
	if !errors.Is(err, syscall.EADDRINUSE) || !errors.As(err, &he) {
		t.Fatalf("runDev with %s taken = %v, want EADDRINUSE with a hint", taken.Raft, err)
	}
	for _, want := range []string{taken.Raft, taken.ID, devGroupFile, "--data"} {
		if !strings.Contains(he.hint, want) {
			t.Errorf("hint %q lacks %q", he.hint, want)
		}
	}
}
