package writes

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
)

func aSets(t *testing.T, n, records int) []*zone.RRset {
	t.Helper()
	var out []*zone.RRset
	for i := range n {
		name := fmt.Sprintf("h%d.example.", i)
		s := &zone.RRset{Name: name, Type: dns.TypeA, TTL: 300}
		for j := range records {
			rr, err := dns.NewRR(fmt.Sprintf("%s 300 IN A 10.0.%d.%d", name, j/256, j%256))
			if err != nil {
				t.Fatal(err)
			}
			s.AddRecord(rr)
		}
		out = append(out, s)
	}
	return out
}

// TestZoneLimits: a write over a limit is refused before it is proposed,
// naming the limit and its setting.
func TestZoneLimits(t *testing.T) {
	k, err := zone.GenerateKey("example.", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	enc := func(c raftfsm.Command) []byte {
		b, err := raftfsm.EncodeCommand(c)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	limits := ZoneLimits{MaxRRsets: 3, MaxBytes: 1 << 20, MaxRRsetRecords: 4}
	tests := []struct {
		desc    string
		cmd     []byte
		stored  int
		setting string // "" when accepted
	}{
		{"create within limits", enc(&raftfsm.CreateZone{Change: zone.ChangeSet{Zone: "example.", Put: aSets(t, 3, 4)}, Owner: k.DNSKEY}), 0, ""},
		{"create with too many RRsets", enc(&raftfsm.CreateZone{Change: zone.ChangeSet{Zone: "example.", Put: aSets(t, 4, 1)}, Owner: k.DNSKEY}), 0, "max_zone_rrsets"},
		{"create with a large RRset", enc(&raftfsm.CreateZone{Change: zone.ChangeSet{Zone: "example.", Put: aSets(t, 1, 5)}, Owner: k.DNSKEY}), 0, "max_rrset_records"},
		{"change growing the zone over", enc(&raftfsm.PublishChange{Change: zone.ChangeSet{Zone: "example.", Put: aSets(t, 2, 1)}}), 2, "max_zone_rrsets"},
		{"change within", enc(&raftfsm.PublishChange{Change: zone.ChangeSet{Zone: "example.", Put: aSets(t, 2, 1), Delete: []zone.RRKey{{Name: "x.example.", Type: dns.TypeA}}}}), 2, ""},
		{"upload announcing too many bytes", enc(&raftfsm.StageBegin{Zone: "example.", Head: []byte("h"), Owner: k.DNSKEY, Chunks: 1, Bytes: 2 << 20, Largest: 1}), 0, "max_zone_bytes"},
		{"upload announcing a large RRset", enc(&raftfsm.StageBegin{Zone: "example.", Head: []byte("h"), Owner: k.DNSKEY, Chunks: 1, Bytes: 100, Largest: 5}), 0, "max_rrset_records"},
		{"chunk with a large RRset", enc(&raftfsm.StageChunk{Zone: "example.", Sets: aSets(t, 1, 5)}), 0, "max_rrset_records"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			err := limits.check(mustDecode(t, tt.cmd), func() int { return tt.stored })
			if tt.setting == "" {
				if err != nil {
					t.Fatalf("check = %v, want accepted", err)
				}
				return
			}
			var re *raftfsm.RejectedError
			if !errors.As(err, &re) || re.Reason != raftfsm.ReasonTooLarge || !strings.Contains(err.Error(), tt.setting) {
				t.Fatalf("check = %v, want rejected (too-large) naming %s", err, tt.setting)
			}
		})
	}
	if err := (ZoneLimits{}).check(mustDecode(t, tests[1].cmd), func() int { return 0 }); err != nil {
		t.Errorf("zero limits: check = %v, want no limit", err)
	}
}

// Consecutive resends back off from leaderPoll to maxResendWait; looking
// for a leader (no resend) polls every leaderPoll.
func TestResendWait(t *testing.T) {
	for _, tt := range []struct {
		resends int
		want    time.Duration
	}{
		{0, leaderPoll},
		{1, leaderPoll},
		{2, 2 * leaderPoll},
		{3, 4 * leaderPoll},
		{5, 16 * leaderPoll},
		{6, maxResendWait},
		{100, maxResendWait},
	} {
		if got := resendWait(tt.resends); got != tt.want {
			t.Errorf("resendWait(%d) = %v, want %v", tt.resends, got, tt.want)
		}
	}
}
