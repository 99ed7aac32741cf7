package ops

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
	"github.com/spf13/cobra"
)

// consentOptions are the flags and arguments of `ddnrs zone consent`.
type consentOptions struct {
	Parent    string // the enclosing name another owner wants to claim
	ChildKey  string // KEYFILE of your registered zone's owner key (private half needed)
	ParentKey string // KEYFILE of the parent claimant's owner key (public half is enough)
}

func newZoneConsentCmd(e *env) *cobra.Command {
	opts := &consentOptions{}
	cmd := &cobra.Command{
		Use:   "consent PARENT",
		Short: "Let another key register a zone above yours",
		Long: `Sign, with the owner key of your registered zone, your consent to another
owner registering PARENT, a name above your zone. Prints the consent in base64
on stdout; the parent's owner passes it when registering PARENT (the REST
API's "consents" field: {"zone": "<your zone>", "signature": "<this>"}).

Why it is needed: the owner of a parent zone can publish a delegation (NS) for
your name pointing at its own name servers, and resolvers that follow the
parent's delegation would go there. The registry therefore refuses a claim
above zones held by other keys (reason children-claimed, naming them) unless
each of their owners consents, just as a zone below a claimed parent needs
the parent's delegation ('ddnrs zone delegate').

The consent names the parent claimant's key: it cannot be reused by anyone
else claiming PARENT. --key is your key (the .private, the .key or their
common base); --parent-key is the public key file (K<parent>+015+<tag>.key)
the parent's owner gave you.`,
		Example: `  # The owner of shop.example.com. lets the holder of Kexample.com.+015+12345 claim example.com.:
  ddnrs zone consent --key Kshop.example.com.+015+54321 --parent-key Kexample.com.+015+12345.key example.com.`,
		Args: exactArgs("PARENT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Parent = args[0]
			return runConsent(cmd.Context(), e, opts)
		},
	}
	cmd.Flags().StringVar(&opts.ChildKey, "key", "", "owner key of your zone, below PARENT (KEYFILE with its .private beside it)")
	cmd.Flags().StringVar(&opts.ParentKey, "parent-key", "", "owner key of the PARENT claimant (its .key file is enough)")
	return cmd
}

func runConsent(_ context.Context, e *env, opts *consentOptions) error {
	if _, ok := dns.IsDomainName(opts.Parent); !ok || opts.Parent == "" {
		return usagef("%q is not a domain name", opts.Parent)
	}
	if opts.ChildKey == "" || opts.ParentKey == "" {
		return usagef("both --key (yours) and --parent-key (the parent claimant's) are needed")
	}
	parent := zone.CanonicalName(opts.Parent)
	child, pk, err := signerAndOther(opts.ChildKey, opts.ParentKey, "--parent-key", parent)
	if err != nil {
		return err
	}
	if child.Zone == parent || !dns.IsSubDomain(parent, child.Zone) {
		return withHint(fmt.Errorf("%s, the zone of --key, is not below %s", child.Zone, parent), "a consent is signed by the owner of a zone below PARENT")
	}
	owner := pk.DNSKEY.String()
	if _, err := raftfsm.ParseOwnerKey(owner, parent); err != nil {
		return err
	}
	sig := ed25519.Sign(child.Private, raftfsm.ParentConsentStatement(parent, owner, child.Zone))
	fmt.Fprintln(e.stdout, base64.StdEncoding.EncodeToString(sig))
	fmt.Fprintf(e.stderr, "Consent of the owner of %s (key tag %d) to a claim of %s by key tag %d.\n", child.Zone, child.Tag(), parent, pk.Tag())
	return nil
}
