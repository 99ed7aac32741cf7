package ops

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/admin"
)

func TestOutcomeUnknown(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{&admin.APIError{Code: admin.CodeNoQuorum}, true},
		{&admin.APIError{Code: admin.CodeNoLeader}, true},
		{&admin.APIError{Code: admin.CodeUnavailable}, true},
		{fmt.Errorf("publish: %w", &admin.APIError{Code: admin.CodeNoQuorum}), true},
		{&admin.APIError{Code: admin.CodeRejected, Reason: "stale-serial"}, false},
		{&admin.APIError{Code: admin.CodeBadRequest}, false},
		{fmt.Errorf("dial: %w", admin.ErrUnavailable), true},
		{context.DeadlineExceeded, true},
		{fmt.Errorf("zone file: bad"), false},
	}
	for _, tt := range tests {
		if got := outcomeUnknown(tt.err); got != tt.want {
			t.Errorf("outcomeUnknown(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// TestPublishFollowUp: the follow-up of an unknown outcome finds a
// change the group committed (so publish succeeds) and does not mistake
// another change at the same serial for it, saying what the group holds.
func TestPublishFollowUp(t *testing.T) {
	g := startTestGroup(t)
	dir := t.TempDir()
	keyPath, _ := ownerKey(t, dir, "example.")
	zf := writeFile(t, dir, "example.zone", exampleZone)
	mustRun(t, g.args("zone", "publish", "--key", keyPath, zf)...)
	k, err := loadKey(keyPath, true)
	if err != nil {
		t.Fatal(err)
	}
	o := adminOptions{Dev: true, Data: g.data, Timeout: 30 * time.Second}
	if err := o.resolve("key"); err != nil {
		t.Fatal(err)
	}
	c, err := o.client()
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdle()
	ctx := context.Background()
	plan := func(addr string) *publishPlan {
		t.Helper()
		u, err := readZone(writeFile(t, dir, "edit.zone", strings.Replace(exampleZone, "192.0.2.80", addr, 1)), "example.", k)
		if err != nil {
			t.Fatal(err)
		}
		p, err := planPublish(ctx, c, o.Server, u, k, nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	sent, other := plan("192.0.2.1"), plan("192.0.2.2") // the same serial
	if _, err := submitPublish(ctx, c, o.Server, sent); err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	if ok, seen := followUp(ctx, c, o.Server, sent, k, &progress, 30*time.Second); !ok {
		t.Errorf("followUp(the committed change) = false (%s), want true\n%s", seen, progress.String())
	}
	progress.Reset()
	ok, seen := followUp(ctx, c, o.Server, other, k, &progress, 500*time.Millisecond)
	if want := fmt.Sprintf("at serial %d", sent.New.Serial()); ok || !strings.Contains(seen, want) {
		t.Errorf("followUp(a change never sent) = %v, %q; want false, the group seen %s\n%s", ok, seen, want, progress.String())
	}
}
