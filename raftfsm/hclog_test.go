package raftfsm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/ddnrs/ddnrs/internal/testlog"
)

// testLogger sends logs at debug level and above to t.Log until the test
// ends; Raft's transport has goroutines Close does not wait for, which may
// log later, and t.Log after the end of a test is a race.
func testLogger(t testing.TB) *slog.Logger { return testlog.New(t, slog.LevelDebug) }

func decodeLines(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestHclogAdapter(t *testing.T) {
	var buf bytes.Buffer
	root := newHclog(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l := root.Named("raft").Named("snapshots").With("k", "v")

	l.Trace("hidden: below the handler's level")
	l.Debug("d", "n", 1)
	l.Info("i")
	l.Warn("w")
	l.Error("e", "error", "boom")
	w := root.StandardWriter(&hclog.StandardLoggerOptions{InferLevels: true})
	w.Write([]byte("[ERROR] from a std logger\n[DEBUG] second line\n"))

	got := decodeLines(t, &buf)
	want := []struct{ level, msg string }{
		{"DEBUG", "d"}, {"INFO", "i"}, {"WARN", "w"}, {"ERROR", "e"},
		{"ERROR", "from a std logger"}, {"DEBUG", "second line"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i]["level"] != w.level || got[i]["msg"] != w.msg {
			t.Errorf("record %d = %v %v, want %s %s", i, got[i]["level"], got[i]["msg"], w.level, w.msg)
		}
	}
	if got[0]["logger"] != "raft.snapshots" || got[0]["k"] != "v" || got[0]["n"] != 1.0 {
		t.Errorf("record 0 = %v, want logger=raft.snapshots k=v n=1", got[0])
	}
	if l.Name() != "raft.snapshots" || len(l.ImpliedArgs()) != 2 {
		t.Errorf("Name() = %q, ImpliedArgs() = %v", l.Name(), l.ImpliedArgs())
	}
	if r := l.ResetNamed("other"); r.Name() != "other" {
		t.Errorf("ResetNamed: Name() = %q", r.Name())
	}

	tests := []struct {
		set              hclog.Level
		trace, info, err bool
	}{
		{hclog.NoLevel, false, true, true},
		{hclog.Warn, false, false, true},
		{hclog.Off, false, false, false},
	}
	for _, tt := range tests {
		root.SetLevel(tt.set)
		if l.IsTrace() != tt.trace || l.IsInfo() != tt.info || l.IsError() != tt.err {
			t.Errorf("SetLevel(%v): IsTrace %v IsInfo %v IsError %v, want %v %v %v", tt.set, l.IsTrace(), l.IsInfo(), l.IsError(), tt.trace, tt.info, tt.err)
		}
	}
	root.SetLevel(hclog.NoLevel)
	if got := l.GetLevel(); got != hclog.Debug {
		t.Errorf("GetLevel() = %v, want Debug (the handler's)", got)
	}
	newHclog(nil).Info("a nil logger discards") // must not panic
}

// Once the group stops, warnings and errors that only report Raft's or
// the transport's own shutdown drop to Debug; other errors keep their
// level, and before the stop nothing changes.
func TestHclogStopping(t *testing.T) {
	tests := []struct {
		name     string
		stopping bool
		level    hclog.Level
		err      error
		want     string
	}{
		{"running, transport shut down", false, hclog.Error, raft.ErrTransportShutdown, "ERROR"},
		{"stopping, transport shut down", true, hclog.Error, raft.ErrTransportShutdown, "DEBUG"},
		{"stopping, wrapped raft shutdown", true, hclog.Warn, fmt.Errorf("apply: %w", raft.ErrRaftShutdown), "DEBUG"},
		{"stopping, other error", true, hclog.Error, errors.New("disk full"), "ERROR"},
		{"stopping, info unchanged", true, hclog.Info, raft.ErrTransportShutdown, "INFO"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			root := newHclog(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))).(*hclogAdapter)
			l := root.Named("raft").Named("transport")
			if tt.stopping {
				root.stop()
			}
			l.Log(tt.level, "failed to decode incoming command", "error", tt.err)
			got := decodeLines(t, &buf)
			if len(got) != 1 || got[0]["level"] != tt.want {
				t.Errorf("logged %v, want one record at %s", got, tt.want)
			}
		})
	}
}
