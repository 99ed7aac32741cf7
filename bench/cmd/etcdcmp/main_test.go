package main

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name, in   string
		id, leader string
		term       uint64
		wantErr    bool
	}{
		{"leader", `{"header":{"cluster_id":"1","member_id":"9372538179322589801","revision":"5","raft_term":"2"},"version":"3.4.23","leader":"9372538179322589801"}`,
			"9372538179322589801", "9372538179322589801", 2, false},
		{"follower", `{"header":{"member_id":"7","raft_term":"3"},"leader":"8"}`, "7", "8", 3, false},
		{"no member", `{"header":{}}`, "", "", 0, true},
		{"bad term", `{"header":{"member_id":"7","raft_term":"x"}}`, "", "", 0, true},
		{"not json", `<html>`, "", "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, leader, term, err := parseStatus([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if id != tt.id || leader != tt.leader || term != tt.term {
				t.Errorf("got %q %q %d, want %q %q %d", id, leader, term, tt.id, tt.leader, tt.term)
			}
		})
	}
}

func TestStatCPU(t *testing.T) {
	tests := []struct {
		name, in string
		want     time.Duration
	}{
		{"comm with spaces", "1234 (etcd (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 40 0 0 20 0 12 0", 2900 * time.Millisecond},
		{"short", "1234 (etcd) S 1", 0},
		{"garbage", "nothing", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := statCPU(tt.in); got != tt.want {
				t.Errorf("statCPU = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPutBodyIsBase64(t *testing.T) {
	var got map[string]string
	if err := json.Unmarshal(putBody([]byte("/bench/w1-0"), []byte{0, 1, 2}), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"key": "L2JlbmNoL3cxLTA=", "value": "AAEC"}
	if len(got) != len(want) || got["key"] != want["key"] || got["value"] != want["value"] {
		t.Errorf("body = %v, want %v", got, want)
	}
}

func TestEtcdArgs(t *testing.T) {
	peers := []string{"http://127.0.0.1:1", "http://127.0.0.2:2"}
	clients := []string{"http://127.0.0.1:3", "http://127.0.0.2:4"}
	args := etcdArgs("/d", 1, peers, clients, timings["matched"])
	flag := func(name string) string {
		i := slices.Index(args, name)
		if i < 0 || i+1 >= len(args) {
			t.Fatalf("%s missing in %v", name, args)
		}
		return args[i+1]
	}
	for name, want := range map[string]string{
		"--name":               "m2",
		"--data-dir":           "/d/m2",
		"--listen-peer-urls":   peers[1],
		"--listen-client-urls": clients[1],
		"--initial-cluster":    "m1=http://127.0.0.1:1,m2=http://127.0.0.2:2",
		"--heartbeat-interval": "30",
		"--election-timeout":   "300",
	} {
		if got := flag(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if strings.Contains(strings.Join(args, " "), "unsafe-no-fsync") {
		t.Error("fsync must stay on")
	}
}

func TestPercentile(t *testing.T) {
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		p    float64
		want time.Duration
	}{{0.5, 51 * time.Millisecond}, {0.99, 100 * time.Millisecond}, {1, 100 * time.Millisecond}}
	for _, tt := range tests {
		if got := percentile(ds, tt.p); got != tt.want {
			t.Errorf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile of nothing = %v", got)
	}
}

func TestChangeSizes(t *testing.T) {
	create, update, err := changeSizes(3)
	if err != nil {
		t.Fatal(err)
	}
	if update <= 0 || create <= update {
		t.Errorf("creation %d bytes, update %d: a creation carries the whole zone, an update less", create, update)
	}
}

func TestDiskLoopsCleanUp(t *testing.T) {
	dir := t.TempDir()
	for name, f := range map[string]func() (time.Duration, time.Duration, error){
		"fdatasync": func() (time.Duration, time.Duration, error) { return fsyncLatency(dir, 2, 3) },
		"bbolt":     func() (time.Duration, time.Duration, error) { return boltLatency(dir, 2, 3, 601) },
	} {
		p50, p99, err := f()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if p50 <= 0 || p99 < p50 {
			t.Errorf("%s: p50 %v p99 %v", name, p50, p99)
		}
	}
	left, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("files left in %s: %v", dir, left)
	}
}
