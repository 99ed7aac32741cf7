package ops

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/internal/demo"
	"github.com/ddnrs/ddnrs/zone"
)

// TestReportPublish: what publish prints for each outcome, in text and
// JSON; a repeat (an earlier send had committed the change) says so and
// shows no index.
func TestReportPublish(t *testing.T) {
	z, err := demo.Zone()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc string
		p    publishPlan
		res  *admin.ChangeResult
		text string
		json publishJSON
	}{
		{"created", publishPlan{Origin: z.Origin, New: z, Create: true, Put: 7}, &admin.ChangeResult{Serial: z.Serial(), Index: 12},
			"created " + z.Origin, publishJSON{Zone: z.Origin, Action: "created", Serial: z.Serial(), Index: 12, Put: 7}},
		{"repeat", publishPlan{Origin: z.Origin, New: z, Old: z, Action: zone.Updated, Put: 2}, &admin.ChangeResult{Serial: z.Serial(), Repeat: true},
			"an earlier send of this change had committed it", publishJSON{Zone: z.Origin, Action: zone.Updated.String(), OldSerial: z.Serial(), Serial: z.Serial(), Repeat: true, Put: 2}},
		{"repeat of a rotation", publishPlan{Origin: z.Origin, New: z, Old: z, Action: zone.Updated, Rotate: true, Put: 2}, &admin.ChangeResult{Serial: z.Serial(), Repeat: true},
			"(rotated, serial " + strconv.Itoa(int(z.Serial())) + " -> " + strconv.Itoa(int(z.Serial())) + "): an earlier send", publishJSON{Zone: z.Origin, Action: "rotated", OldSerial: z.Serial(), Serial: z.Serial(), Repeat: true, Put: 2}},
		{"served by some members", publishPlan{Origin: z.Origin, New: z, Old: z, Action: zone.Updated, Put: 1}, &admin.ChangeResult{Serial: z.Serial(), Index: 14, Members: []string{"n1", "n2"}, Pending: []string{"n3"}},
			"served by 2 of 3 members; not applied yet on n3", publishJSON{Zone: z.Origin, Action: zone.Updated.String(), OldSerial: z.Serial(), Serial: z.Serial(), Index: 14, Put: 1, Members: []string{"n1", "n2"}, Pending: []string{"n3"}}},
		{"served by every member", publishPlan{Origin: z.Origin, New: z, Old: z, Action: zone.Updated, Put: 1}, &admin.ChangeResult{Serial: z.Serial(), Index: 15, Members: []string{"n1", "n2", "n3"}},
			"served by every member of the group (3 of 3)", publishJSON{Zone: z.Origin, Action: zone.Updated.String(), OldSerial: z.Serial(), Serial: z.Serial(), Index: 15, Put: 1, Members: []string{"n1", "n2", "n3"}}},
		{"unchanged", publishPlan{Origin: z.Origin, New: z, Old: z, Action: zone.Unchanged}, nil,
			"unchanged at serial", publishJSON{Zone: z.Origin, Action: "unchanged", OldSerial: z.Serial(), Serial: z.Serial()}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			var b bytes.Buffer
			if err := reportPublish(&b, "text", &tt.p, tt.res); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), tt.text) {
				t.Errorf("text = %q, want it to contain %q", b.String(), tt.text)
			}
			b.Reset()
			if err := reportPublish(&b, "json", &tt.p, tt.res); err != nil {
				t.Fatal(err)
			}
			var got publishJSON
			if err := json.Unmarshal(b.Bytes(), &got); err != nil {
				t.Fatalf("json %q: %v", b.String(), err)
			}
			if !reflect.DeepEqual(got, tt.json) {
				t.Errorf("json = %+v, want %+v", got, tt.json)
			}
		})
	}
}
