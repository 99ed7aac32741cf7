package ops

// dev_print.go: what `ddnrs dev` tells its user: the summary it prints and
// the ready file (--ready-file) scripts read.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ddnrs/ddnrs/internal/atomicfile"
	"github.com/ddnrs/ddnrs/internal/demo"
)

// printDev prints where the group is, the zones, and what to try.
// explicitData says whether --data was given (the ops commands then need
// it too).
func printDev(w io.Writer, data string, explicitData bool, g *devGroup, zones []*devZone) {
	m1 := g.members[0].n.Addr()
	at := func(a netip.AddrPort) string { return "@" + a.Addr().String() + " -p " + strconv.Itoa(int(a.Port())) }
	fmt.Fprintf(w, "ddnrs dev: DNS on %s (UDP and TCP), data in %s\n", m1, data)
	fmt.Fprintf(w, "a replica group of %d members in this process (Raft over mutual TLS, CA in %s):\n", len(g.members), filepath.Join(data, "tls", "ca"))
	for _, m := range g.members {
		fmt.Fprintf(w, "  %-6s DNS %-21s admin %-21s raft %s\n", m.id, m.n.Addr(), m.n.AdminAddr(), m.n.RaftAddr())
	}
	var scrape []string
	for _, m := range g.members {
		if a := m.n.MetricsAddr(); a != "" {
			scrape = append(scrape, "http://"+a+"/metrics")
		}
	}
	if len(scrape) > 0 {
		fmt.Fprintf(w, "metrics for Prometheus (plain HTTP, no certificate): %s\n", strings.Join(scrape, " "))
	}
	printEncrypted(w, data, g.members[0].n)
	fmt.Fprintf(w, "zones served (signed here by the owner key, committed by the group):\n")
	for _, dz := range zones {
		fmt.Fprintf(w, "  %-24s serial %-10d key tag %-5d %s (%s)\n", dz.zone.Origin, dz.zone.Serial(), dz.key.Tag(), dz.action, dz.source)
	}
	fmt.Fprintf(w, "\ntry:\n")
	for _, dz := range zones {
		o := dz.zone.Origin
		if o == demo.Origin {
			fmt.Fprintf(w, "  dig %s www.%s A +dnssec\n", at(m1), o)
			fmt.Fprintf(w, "  dig %s chain.%s A            # CNAME chain\n", at(m1), o)
			fmt.Fprintf(w, "  dig %s anything.wild.%s TXT  # wildcard\n", at(m1), o)
			fmt.Fprintf(w, "  dig %s nope.%s A +dnssec     # NXDOMAIN with NSEC proof\n", at(m1), o)
			fmt.Fprintf(w, "  dig %s +tcp %s TXT\n", at(m1), o)
		} else {
			fmt.Fprintf(w, "  dig %s %s SOA +dnssec\n", at(m1), o)
			fmt.Fprintf(w, "  dig %s +tcp %s DNSKEY\n", at(m1), o)
		}
		for _, m := range g.members[1:] {
			fmt.Fprintf(w, "  dig %s %s SOA +short   # the same zone from %s\n", at(m.n.Addr()), o, m.id)
		}
	}
	dev := "--dev"
	if explicitData {
		dev += " --data " + data
	}
	fmt.Fprintf(w, "\noperate the group (in another terminal):\n")
	fmt.Fprintf(w, "  ddnrs ops group members %s\n", dev)
	fmt.Fprintf(w, "  ddnrs ops group status %s\n", dev)
	fmt.Fprintf(w, "  ddnrs ops group transfer-leader %s\n", dev)
	fmt.Fprintf(w, "  ddnrs ops snapshot save %s backup.snap\n", dev)
	if len(zones) > 0 {
		dz := zones[0]
		key := filepath.Join(demo.KeysDir(data), dz.key.FileBase()+".private")
		file := "ZONEFILE"
		if dz.source != "built-in demo" {
			file = dz.source
		}
		fmt.Fprintf(w, "  ddnrs zone publish %s --key %s %s\n", dev, key, file)
	}
	fmt.Fprintf(w, "\nvalidating resolver (unbound.conf, server: section; forward the zone to %s):\n", m1)
	for _, dz := range zones {
		dnskey, _ := anchor(dz.zone, dz.key)
		fmt.Fprintf(w, "  trust-anchor: %q\n", dnskey)
	}
	fmt.Fprintf(w, "\nDS for the parent zone:\n")
	for _, dz := range zones {
		_, ds := anchor(dz.zone, dz.key)
		fmt.Fprintf(w, "  %s\n", ds)
	}
	fmt.Fprintf(w, "\nPress Ctrl-C to stop.\n")
}

// readyZone and readyInfo are the --ready-file JSON, also written to
// DATA/dev.json for the ops commands' --dev.
type readyZone struct {
	Zone   string `json:"zone"`
	Serial uint32 `json:"serial"`
	DNSKEY string `json:"dnskey"`
	DS     string `json:"ds"`
}

type readyInfo struct {
	// DNS is member 1's DNS address.
	DNS string `json:"dns"`
	// API is member 1's REST API base URL.
	API   string      `json:"api"`
	Data  string      `json:"data"`
	Zones []readyZone `json:"zones"`
	// Members are the group's members, member 1 first.
	Members []devMember `json:"members"`
	// CA, Cert and Key are the operator's TLS files for the admin
	// endpoints (the ops CLI's --ca, --cert, --key).
	CA   string `json:"ca"`
	Cert string `json:"cert"`
	Key  string `json:"key"`
	// Member 1's DoT, DoH and DoQ, verified against CA (dev_tls.go).
	readyEncrypted
}

func readyFor(data string, tf devTLSFiles, g *devGroup, zones []*devZone) readyInfo {
	info := readyInfo{DNS: g.members[0].n.Addr().String(), API: "http://" + g.members[0].n.APIAddr(), Data: data, Zones: []readyZone{}, CA: tf.CA, Cert: tf.Ops.Cert, Key: tf.Ops.Key}
	for _, dz := range zones {
		dnskey, ds := anchor(dz.zone, dz.key)
		info.Zones = append(info.Zones, readyZone{Zone: dz.zone.Origin, Serial: dz.zone.Serial(), DNSKEY: dnskey, DS: ds})
	}
	info.readyEncrypted = encryptedReady(data, g.members[0].n)
	for _, m := range g.members {
		info.Members = append(info.Members, devMember{ID: m.id, DNS: m.n.Addr().String(), Admin: m.n.AdminAddr(), Raft: m.n.RaftAddr()})
	}
	return info
}

// writeReady writes the ready file atomically (temporary file + rename).
func writeReady(path string, info readyInfo) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'), 0o644)
}
