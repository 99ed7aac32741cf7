package integration

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	raftbench "github.com/ddnrs/ddnrs/bench/raft"
)

// publishJSON is what `ddnrs zone publish --output json` prints.
type publishJSON struct {
	Serial uint32 `json:"serial"`
	Index  uint64 `json:"index"`
}

// publishVia publishes file (signed with the owner key) through the admin
// endpoint addr of c's group and returns what publish reported; err is
// the command's failure.
func publishVia(t *testing.T, c *raftbench.Cluster, addr, key, file string) (publishJSON, string, error) {
	t.Helper()
	out, errOut, err := tryCmd("", ddnrsBin, "zone", "publish", "--server", addr, "--ca", c.CACert, "--cert", c.OpsCert,
		"--tls-key", c.OpsKey, "--key", key, "--output", "json", "--timeout", "20s", file)
	var p publishJSON
	if err == nil {
		if jerr := json.Unmarshal([]byte(out), &p); jerr != nil {
			t.Fatalf("ddnrs zone publish --output json printed %q: %v", out, jerr)
		}
	}
	return p, errOut, err
}

// TestGroupRecover (issue 14 item 4): a 7-member group loses 4 members
// for good (SIGKILL, never started again) and takes no write; the 3
// survivors, stopped, are each recovered with `ddnrs ops group recover`
// naming the three of them, started again, elect a leader among
// themselves, take a write, and serve it. The command refuses to run
// without the risk acknowledged, or on a member not in the voter list.
func TestGroupRecover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 7 node processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	c := startGroupOf(t, ctx, 7)
	sz := signFixture(t)
	leader, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first, errOut, err := publishVia(t, c, leader.Admin, sz.Key, sz.Unsigned)
	if err != nil {
		t.Fatalf("publish: %v\n%s", err, errOut)
	}
	if err := c.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	survivors, lost := c.Members[:3], c.Members[3:]
	for _, m := range lost {
		m.Kill()
	}
	edited := filepath.Join(t.TempDir(), "example.zone")
	src, err := os.ReadFile(sz.Unsigned)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(edited, append(src, []byte("\nrecovered 300 IN TXT \"after the recovery\"\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	// Three of seven are no majority: the write cannot commit.
	if _, errOut, err := publishVia(t, c, survivors[0].Admin, sz.Key, edited); err == nil {
		t.Fatalf("a write committed with 3 of 7 voters alive")
	} else {
		t.Logf("write with 4 of 7 dead, as expected refused: %s", strings.TrimSpace(errOut))
	}
	for _, m := range survivors {
		m.Kill()
	}
	var voters []string
	for _, m := range survivors {
		voters = append(voters, "--voter", m.ID+"="+m.Raft)
	}
	recoverArgs := func(m *raftbench.Member, extra ...string) []string {
		return append(append([]string{"ops", "group", "recover", "--config", m.Config()}, voters...), extra...)
	}
	const ack = "--i-understand-acknowledged-writes-may-be-lost"
	if _, errOut, err := tryCmd("", ddnrsBin, recoverArgs(survivors[0])...); err == nil || !strings.Contains(errOut, ack) {
		t.Errorf("recover without %s: err %v, stderr %q; want refused, naming the flag", ack, err, errOut)
	}
	if _, errOut, err := tryCmd("", ddnrsBin, append([]string{"ops", "group", "recover", "--config", lost[0].Config(), ack}, voters...)...); err == nil || !strings.Contains(errOut, "not among") {
		t.Errorf("recover of %s, not a listed voter: err %v, stderr %q; want refused", lost[0].ID, err, errOut)
	}
	for _, m := range survivors {
		out := runCmd(t, "", ddnrsBin, recoverArgs(m, ack)...)
		t.Logf("%s: %s", m.ID, strings.TrimSpace(out))
	}
	for _, m := range survivors {
		if err := c.StartMember(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	leader, err = c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	members, err := c.Ops(ctx, "group", "members", "--server", leader.Admin, "--output", "json")
	if err != nil {
		t.Fatal(err)
	}
	var ml struct {
		Members []struct {
			ID    string `json:"id"`
			Voter bool   `json:"voter"`
		} `json:"members"`
		Voters int `json:"voters"`
	}
	if err := json.Unmarshal([]byte(members), &ml); err != nil {
		t.Fatal(err)
	}
	if ml.Voters != 3 || len(ml.Members) != 3 {
		t.Errorf("after the recovery the group lists %+v, want the 3 survivors as voters", ml.Members)
	}
	second, errOut, err := publishVia(t, c, survivors[1].Admin, sz.Key, edited)
	if err != nil {
		t.Fatalf("publish after the recovery: %v\n%s", err, errOut)
	}
	if !serialBefore(first.Serial, second.Serial) {
		t.Errorf("serial after the recovery %d, before %d", second.Serial, first.Serial)
	}
	for _, m := range survivors {
		if err := raftbench.WaitSerial(ctx, m.DNS, sz.Origin, second.Serial); err != nil {
			t.Errorf("%s: %v", m.ID, err)
		}
		r, err := raftbench.Query(ctx, m.DNS, "recovered.example.", 16)
		if err != nil || len(r.Answer) == 0 || !strings.Contains(r.Answer[0].String(), "after the recovery") {
			t.Errorf("%s: recovered.example. TXT = %v, %v; want the write made after the recovery", m.ID, r, err)
		}
	}
}
