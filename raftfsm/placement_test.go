package raftfsm

import "testing"

// TestPlace is the table of the placement rule: health first, then
// region, then load (the RRsets band, then zones).
func TestPlace(t *testing.T) {
	g := func(name string, members, healthy, zones int, regions ...string) GroupLoad {
		return GroupLoad{Name: name, Members: members, Healthy: healthy, Zones: zones, Regions: regions}
	}
	gl := func(name string, zones int, load uint8, regions ...string) GroupLoad {
		return GroupLoad{Name: name, Members: 3, Healthy: 3, Zones: zones, Load: load, Regions: regions}
	}
	for _, tc := range []struct {
		name   string
		groups []GroupLoad
		region string
		want   string
	}{
		{"fewest zones", []GroupLoad{g("a", 3, 3, 5, "eu"), g("b", 3, 3, 2, "us")}, "", "b"},
		{"region first", []GroupLoad{g("a", 3, 3, 5, "eu"), g("b", 3, 3, 2, "us")}, "eu", "a"},
		{"region nobody serves: any", []GroupLoad{g("a", 3, 3, 5, "eu"), g("b", 3, 3, 2, "us")}, "ap", "b"},
		{"no majority healthy: skipped though in region", []GroupLoad{g("a", 3, 1, 0, "eu"), g("b", 3, 3, 9, "us")}, "eu", "b"},
		{"half healthy is no majority", []GroupLoad{g("a", 4, 2, 0, "eu"), g("b", 3, 2, 9, "us")}, "", "b"},
		{"unhealthy regional group: the healthy one elsewhere", []GroupLoad{g("a", 1, 0, 0), g("b", 1, 1, 1, "us")}, "eu", "b"},
		{"tie on zones: the first name, whatever the sizes", []GroupLoad{g("b", 5, 5, 1, "eu"), g("a", 5, 3, 1, "eu")}, "eu", "a"},
		{"a degraded group with a majority still counts", []GroupLoad{g("a", 5, 3, 0, "eu"), g("b", 5, 5, 1, "eu")}, "eu", "a"},
		{"no group can write", []GroupLoad{g("a", 3, 1, 0, "eu"), g("b", 1, 0, 0)}, "", ""},
		{"fewer RRsets beat fewer zones", []GroupLoad{gl("a", 1, LoadBand(1_000_000)), gl("b", 40, LoadBand(20_000))}, "", "b"},
		{"RRsets within a power of two tie: fewest zones", []GroupLoad{gl("a", 3, LoadBand(40_000)), gl("b", 2, LoadBand(60_000))}, "", "b"},
		{"no load reported counts as empty", []GroupLoad{gl("a", 0, LoadBand(10)), gl("b", 0, 0)}, "", "b"},
		{"region before RRsets", []GroupLoad{gl("a", 1, LoadBand(1_000_000), "eu"), gl("b", 1, LoadBand(10), "us")}, "eu", "a"},
		{"health before RRsets", []GroupLoad{{Name: "a", Members: 3, Healthy: 1, Load: 0}, gl("b", 9, LoadBand(1_000_000))}, "", "b"},
		{"the busier regional group still wins over another region", []GroupLoad{gl("a", 1, LoadBand(500_000), "eu"), gl("c", 1, LoadBand(100), "eu"), gl("b", 0, 0, "us")}, "eu", "c"},
		{"no groups", nil, "eu", ""},
	} {
		if got := Place(tc.groups, tc.region); got != tc.want {
			t.Errorf("%s: Place(%+v, %q) = %q, want %q", tc.name, tc.groups, tc.region, got, tc.want)
		}
	}
}

func TestLoadBand(t *testing.T) {
	for _, tc := range []struct {
		rrsets uint64
		want   uint8
	}{{0, 0}, {1, 1}, {2, 2}, {3, 2}, {4, 3}, {50_005, 16}, {65_535, 16}, {65_536, 17}, {1 << 63, 64}} {
		if got := LoadBand(tc.rrsets); got != tc.want {
			t.Errorf("LoadBand(%d) = %d, want %d", tc.rrsets, got, tc.want)
		}
	}
}

// TestNodeHeartbeatLoad: a heartbeat with a load band is body version 2
// (golden), applied into the directory; one without stays version 1;
// version 2 with band 0 or above 64 is refused; the store and snapshots
// do not keep the band (NodeRecord.Load: soft state).
func TestNodeHeartbeatLoad(t *testing.T) {
	hb := heartbeat("n1", "g1", "eu", 4)
	hb.Node.Load = LoadBand(50_005)
	b := encode(t, hb)
	checkCommandGolden(t, "cmd_node_heartbeat_v2.hex", b, TypeNodeHeartbeat, nodeHeartbeatVersion2)
	if v1 := encode(t, heartbeat("n1", "g1", "eu", 4)); v1[1] != commandVersion1 {
		t.Errorf("a heartbeat without a load is body version %d, want 1", v1[1])
	}
	for _, bad := range []byte{0, 65} {
		m := append([]byte(nil), b...)
		m[len(m)-1] = bad
		if _, err := DecodeCommand(m); err == nil {
			t.Errorf("DecodeCommand(version 2, band %d) = nil error, want refused", bad)
		}
	}
	f := newTestFSM(t)
	f.mustApply(t, 1, b)
	if n, ok := f.Registry().Node("n1"); !ok || n.Load != 16 {
		t.Errorf("directory after the heartbeat: %+v, %v; want load band 16", n, ok)
	}
	again := openFSM(t, f.store, f.path)
	if n, ok := again.Registry().Node("n1"); !ok || n.Load != 0 {
		t.Errorf("directory loaded from the store: %+v, %v; want the node without its load band", n, ok)
	}
}
