package translog

import (
	"testing"
)

// TestRememberAtMost: one checkpoint per size, the latest note, at most
// MaxRemembered of them, the smallest sizes forgotten first.
func TestRememberAtMost(t *testing.T) {
	st := &monitorState{}
	for i := MaxRemembered + 4; i >= 0; i-- { // out of order on purpose
		st.remember(Checkpoint{Size: uint64(i), Root: [32]byte{byte(i)}}, []byte("first"))
	}
	st.remember(Checkpoint{Size: 10, Root: [32]byte{10}}, []byte("again"))
	n := len(st.Checkpoints)
	if n != MaxRemembered || st.Checkpoints[0].Size != 5 || st.Checkpoints[n-1].Size != MaxRemembered+4 {
		t.Fatalf("remembered %d, sizes %d to %d; want %d, 5 to %d", n, st.Checkpoints[0].Size, st.Checkpoints[n-1].Size, MaxRemembered, MaxRemembered+4)
	}
	for i, c := range st.Checkpoints {
		if c.Size != uint64(i+5) {
			t.Fatalf("checkpoint %d has size %d, want %d", i, c.Size, i+5)
		}
	}
	if st.Checkpoints[5].Note != "again" {
		t.Errorf("size 10 keeps note %q, want the latest", st.Checkpoints[5].Note)
	}
}
