package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
	"github.com/spf13/cobra"
)

// keygenOptions are the flags and arguments of `ddnrs zone keygen`.
type keygenOptions struct {
	Zone string // the zone the key is for
	Dir  string // where the key files go; default "."
	ZSK  bool   // flags 256 instead of 257 (SEP)
	// Output is "text" (default: the file base on stdout, the rest on
	// stderr) or "json" (one object on stdout).
	Output string
}

// keygenJSON is what --output json prints.
type keygenJSON struct {
	Zone    string `json:"zone"`
	Tag     uint16 `json:"tag"`
	Base    string `json:"base"`
	Public  string `json:"key"`
	Private string `json:"private"`
	DNSKEY  string `json:"dnskey"`
	DS      string `json:"ds"`
}

func newZoneKeygenCmd(e *env) *cobra.Command {
	opts := &keygenOptions{}
	cmd := &cobra.Command{
		Use:   "keygen ZONE",
		Short: "Make an Ed25519 owner key for a zone",
		Long: `Make a new Ed25519 owner key (DNSKEY algorithm 15) for ZONE and write it as
K<zone>+015+<tag>.key (public) and K<zone>+015+<tag>.private (mode 0600), the
files BIND and ldns tools use. Existing files are never overwritten.

The file base is printed on stdout, so scripts can capture it; the DS record
to give the parent zone is printed on stderr.`,
		Example: `  ddnrs zone keygen example.com.
  KEY=$(ddnrs zone keygen --dir keys example.com.)
  ddnrs zone keygen --output json example.com.   # files, DNSKEY and DS as JSON
  ddnrs zone sign --key "$KEY.private" example.com.zone`,
		Args: exactArgs("ZONE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Zone = args[0]
			return runKeygen(cmd.Context(), e, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Dir, "dir", ".", "directory to write the key files to (created if missing)")
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "text", "text, or json for one object with the files, DNSKEY and DS")
	cmd.Flags().BoolVar(&opts.ZSK, "zsk", false, "make a zone-signing key (flags 256) instead of a combined key with the SEP bit (257)")
	return cmd
}

func runKeygen(_ context.Context, e *env, opts *keygenOptions) error {
	if _, ok := dns.IsDomainName(opts.Zone); !ok || opts.Zone == "" {
		return usagef("%q is not a domain name", opts.Zone)
	}
	if opts.Output != "text" && opts.Output != "json" {
		return usagef("--output %q: want text or json", opts.Output)
	}
	k, err := zone.GenerateKey(opts.Zone, !opts.ZSK, e.rand)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return err
	}
	base := filepath.Join(opts.Dir, k.FileBase())
	if err := writeKeyFiles(base, k); err != nil {
		return err
	}
	ds := k.DNSKEY.ToDS(dns.SHA256)
	if opts.Output == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(keygenJSON{Zone: k.Zone, Tag: k.Tag(), Base: base, Public: base + ".key", Private: base + ".private",
			DNSKEY: k.DNSKEY.String(), DS: ds.String()})
	}
	fmt.Fprintln(e.stdout, base)
	fmt.Fprintf(e.stderr, "Wrote %s.key and %s.private (the private key: keep it secret).\n", base, base)
	fmt.Fprintf(e.stderr, "DS record for the parent of %s:\n  %s\n", k.Zone, ds)
	fmt.Fprintf(e.stderr, "Next: ddnrs zone sign --key %s.private ZONEFILE\n", base)
	return nil
}

// writeKeyFiles writes base.key (0644) and base.private (0600), refusing
// to overwrite either; when one cannot be written, neither is left behind.
func writeKeyFiles(base string, k *zone.Key) (err error) {
	files := []struct {
		path string
		perm os.FileMode
		data []byte
	}{
		{base + ".private", 0o600, k.MarshalPrivate()},
		{base + ".key", 0o644, k.MarshalPublic()},
	}
	var created []string
	defer func() {
		if err != nil {
			for _, p := range created {
				os.Remove(p)
			}
		}
	}()
	for _, f := range files {
		fh, err := os.OpenFile(f.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.perm)
		if errors.Is(err, fs.ErrExist) {
			return withHint(fmt.Errorf("%s already exists: refusing to overwrite a key", f.path), "move the old key away first, or write the new one elsewhere with --dir")
		}
		if err != nil {
			return err
		}
		created = append(created, f.path)
		_, err = fh.Write(f.data)
		if err == nil {
			err = fh.Chmod(f.perm) // whatever the umask
		}
		if err == nil {
			err = fh.Sync()
		}
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", f.path, err)
		}
	}
	return nil
}
