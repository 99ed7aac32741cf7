package ops

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ddnrs/ddnrs/internal/pki"
)

// bootstrapRecord is the file bootstrap leaves in DIR for the groups
// bootstrapped after it (--from): DIR/bootstrap-GROUP.json, GROUP being
// --name or "default". It holds what --output json prints.
func bootstrapRecord(out, group string) string {
	if group == "" {
		group = "default"
	}
	return filepath.Join(out, "bootstrap-"+group+".json")
}

// maxPeersFrom is how many overlay multiaddrs --from takes from each
// earlier group: several, so a new node joins while some are down
// (issue 17 item 1), and few, so configurations stay readable.
const maxPeersFrom = 3

// applyFrom fills the flags an operator would otherwise copy from the
// output of earlier bootstraps: each --from names such a record (or the
// DIR holding one or more). From the registry's record come
// --registry-urls, --registry-admin and --log-verifier; from every
// record up to three overlay multiaddrs for --bootstrap-peer; and --ca
// from the first record when --ca is not given (its ca.key must be
// there: bootstrap issues the new members' certificates). Flags given
// explicitly win over what the records say.
func applyFrom(opts *bootstrapOptions) error {
	var recs []bootstrapJSON
	var names []string
	for _, f := range opts.From {
		paths := []string{f}
		if st, err := os.Stat(f); err == nil && st.IsDir() {
			m, _ := filepath.Glob(filepath.Join(f, "bootstrap-*.json"))
			if len(m) == 0 {
				return usagef("--from %s: no bootstrap-GROUP.json in that directory (want the --out DIR of an earlier 'ddnrs ops group bootstrap', or its bootstrap-GROUP.json)", f)
			}
			paths = m
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				return withHint(fmt.Errorf("--from %s: %w", f, err), "--from names an earlier bootstrap's --out DIR or its bootstrap-GROUP.json")
			}
			var r bootstrapJSON
			dec := json.NewDecoder(strings.NewReader(string(b)))
			if err := dec.Decode(&r); err != nil || len(r.Members) == 0 {
				if err == nil {
					err = fmt.Errorf("no members")
				}
				return usagef("--from %s: not a bootstrap record (%v): want the bootstrap-GROUP.json an earlier bootstrap wrote", p, err)
			}
			if opts.Name != "" && r.Group == opts.Name {
				return usagef("--from %s: it is group %q, the group being bootstrapped: name another group's record", p, r.Group)
			}
			recs = append(recs, r)
			names = append(names, p)
		}
	}
	var reg *bootstrapJSON
	for i := range recs {
		if recs[i].Registry {
			if reg != nil {
				return usagef("--from: two registry groups (%s and %s): a cluster has one registry", names[0], names[i])
			}
			reg = &recs[i]
		}
	}
	if reg != nil && opts.Registry {
		return usagef("--from names the registry's record, but this group is the registry (--registry): bootstrap it without --from")
	}
	if opts.CA == "" && len(recs) > 0 {
		dir := filepath.Dir(recs[0].CA)
		if _, err := os.Stat(filepath.Join(dir, pki.CAKeyFile)); err != nil {
			return withHint(fmt.Errorf("--from %s: the cluster CA's key %s is not here: %w", names[0], filepath.Join(dir, pki.CAKeyFile), err),
				"run bootstrap where the CA's key is, or give the CA directory with --ca")
		}
		opts.CA = dir
	}
	if reg != nil {
		if len(opts.RegistryURLs) == 0 {
			for _, m := range reg.Members {
				if m.API != "" {
					opts.RegistryURLs = append(opts.RegistryURLs, m.API)
				}
			}
		}
		if len(opts.RegistryAdmin) == 0 {
			for _, m := range reg.Members {
				opts.RegistryAdmin = append(opts.RegistryAdmin, m.Admin)
			}
		}
		if opts.LogVerifier == "" {
			opts.LogVerifier = reg.LogVerifier
		}
	}
	seen := make(map[string]bool)
	for _, p := range opts.BootstrapPeers {
		seen[p] = true
	}
	for i, r := range recs {
		n := 0
		for _, m := range r.Members {
			if m.Overlay == "" || n == maxPeersFrom {
				continue
			}
			if !opts.Overlay {
				return usagef("--from %s: group %q runs the overlay; add --overlay so this group joins it", names[i], r.Group)
			}
			if !seen[m.Overlay] {
				seen[m.Overlay] = true
				opts.BootstrapPeers = append(opts.BootstrapPeers, m.Overlay)
			}
			n++
		}
	}
	return nil
}

// installPath maps a path bootstrap wrote under out to where the
// operator installs it (--install-dir): out/ID/... becomes
// install/ID/...; without --install-dir it is path itself.
func installPath(out, install, path string) string {
	if install == "" {
		return path
	}
	rel, err := filepath.Rel(out, path)
	if err != nil || strings.HasPrefix(rel, "..") {
		return path
	}
	return filepath.Join(install, rel)
}

// checkInstallDir checks --install-dir.
func checkInstallDir(dir string) error {
	if dir != "" && !filepath.IsAbs(dir) {
		return usagef("--install-dir %q: want an absolute path, the directory each member's directory is copied into on its machine, e.g. --install-dir /var/lib/ddnrs", dir)
	}
	return nil
}
