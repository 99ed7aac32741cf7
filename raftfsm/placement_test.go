package raftfsm

import "testing"

// TestPlace is the table of the placement rule: health first, then
// region, then load.
func TestPlace(t *testing.T) {
	g := func(name string, members, healthy, zones int, regions ...string) GroupLoad {
		return GroupLoad{Name: name, Members: members, Healthy: healthy, Zones: zones, Regions: regions}
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
		{"no groups", nil, "eu", ""},
	} {
		if got := Place(tc.groups, tc.region); got != tc.want {
			t.Errorf("%s: Place(%+v, %q) = %q, want %q", tc.name, tc.groups, tc.region, got, tc.want)
		}
	}
}
