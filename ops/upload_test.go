package ops

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// lossyRoute is a scripted uploadRoute: every chunk commits, but its send
// reports an unknown outcome (as when the group's leader is lost while
// committing each chunk, seen with seven members at load 47); StageBegin
// answers how many chunks the group holds. It is a fake because a real
// group cannot be made to lose its leader on every chunk on cue; the
// real route is exercised by integration TestBigZoneThroughGroup.
type lossyRoute struct {
	held  int
	sends int
}

var errOutcomeUnknown = errors.New("no_quorum: leadership lost while committing")

func (r *lossyRoute) start(context.Context) error { return nil }

func (r *lossyRoute) send(_ context.Context, cmd []byte) (uploadStep, error) {
	r.sends++
	switch string(cmd) {
	case "begin":
		return uploadStep{Staged: uint32(r.held), Known: true}, nil
	case "commit":
		return uploadStep{Serial: 1}, nil
	}
	r.held++
	return uploadStep{}, errOutcomeUnknown
}

func (r *lossyRoute) resumable(err error) bool { return errors.Is(err, errOutcomeUnknown) }

// An upload whose every chunk send has an unknown outcome but commits
// makes progress: the group holds one more chunk at each resume, so the
// uploader goes on past `tries` interruptions and finishes. With no chunk
// held anew it still gives up after `tries`.
func TestUploadResumesWhileTheGroupHoldsMore(t *testing.T) {
	cmds := [][]byte{[]byte("begin")}
	for range 8 {
		cmds = append(cmds, []byte("chunk"))
	}
	cmds = append(cmds, []byte("commit"))
	r := &lossyRoute{}
	var out strings.Builder
	u := &uploader{to: r, out: &out, origin: "big.test.", tries: 3}
	res, err := u.upload(t.Context(), cmds)
	if err != nil || res.Serial != 1 || r.held != 8 {
		t.Fatalf("upload = %+v, %v with %d chunks held; want the commit's answer and 8 chunks\n%s", res, err, r.held, out.String())
	}

	stuck := &stuckRoute{}
	u = &uploader{to: stuck, origin: "big.test.", tries: 3}
	if _, err := u.upload(t.Context(), cmds); err == nil || !strings.Contains(err.Error(), "gave up after 3 interruptions") {
		t.Fatalf("upload with no progress = %v, want it to give up after 3 interruptions", err)
	}
	if stuck.chunks != 3 {
		t.Errorf("upload with no progress sent %d chunks, want 3 (one per try)", stuck.chunks)
	}
}

// stuckRoute holds nothing: every chunk send fails, and none commits.
type stuckRoute struct{ chunks int }

func (r *stuckRoute) start(context.Context) error { return nil }

func (r *stuckRoute) send(_ context.Context, cmd []byte) (uploadStep, error) {
	if string(cmd) == "begin" {
		return uploadStep{Known: true}, nil
	}
	r.chunks++
	return uploadStep{}, errOutcomeUnknown
}

func (r *stuckRoute) resumable(err error) bool { return errors.Is(err, errOutcomeUnknown) }
