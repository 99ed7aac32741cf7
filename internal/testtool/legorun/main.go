// Command legorun obtains one certificate from an ACME server with lego's
// library and its exec DNS-01 provider (github.com/go-acme/lego/v5
// providers/dns/exec: EXEC_PATH is run as "present|cleanup FQDN VALUE"),
// the provider lego's CLI runs with --dns exec. It exists because lego's
// CLI does not build from the module proxy here (some of its 180 DNS
// providers' modules are not served); the ACME client, the DNS-01 solver
// and the exec provider are lego's own code. It is a separate module, so
// DDNRS's go.mod does not grow with lego's dependencies; the tests build
// it with internal/testtool (testtool.Lego).
//
//	EXEC_PATH=hook legorun -server https://127.0.0.1:14000/dir -ca ca.pem \
//	    -resolver 127.0.0.1:5300 -out DIR -domain example.org -domain '*.example.org'
package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/certcrypto"
	"github.com/go-acme/lego/v5/certificate"
	"github.com/go-acme/lego/v5/challenge/dns01"
	"github.com/go-acme/lego/v5/lego"
	"github.com/go-acme/lego/v5/providers/dns/exec"
	"github.com/go-acme/lego/v5/registration"
)

type user struct {
	key crypto.Signer
	reg *acme.ExtendedAccount
}

func (u *user) GetEmail() string                       { return "" }
func (u *user) GetRegistration() *acme.ExtendedAccount { return u.reg }
func (u *user) GetPrivateKey() crypto.Signer           { return u.key }

type domains []string

func (d *domains) String() string     { return strings.Join(*d, ",") }
func (d *domains) Set(v string) error { *d = append(*d, v); return nil }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "legorun:", err)
		os.Exit(1)
	}
}

func run() error {
	var ds domains
	server := flag.String("server", "", "the ACME directory URL")
	ca := flag.String("ca", "", "PEM file of the CA of the ACME server's HTTPS certificate")
	resolver := flag.String("resolver", "", "HOST:PORT of the DNS server lego checks the TXT records at (the recursive check; the authoritative one is off)")
	out := flag.String("out", "", "directory for cert.pem (the chain) and key.pem")
	timeout := flag.Duration("timeout", 2*time.Minute, "bound on the whole issuance")
	flag.Var(&ds, "domain", "a name of the certificate (repeat)")
	flag.Parse()
	if *server == "" || *resolver == "" || *out == "" || len(ds) == 0 {
		return errors.New("-server, -resolver, -out and at least one -domain are required")
	}
	if *ca != "" {
		os.Setenv("LEGO_CA_CERTIFICATES", *ca) // read when the config is made
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	u := &user{key: key}
	cfg := lego.NewConfig(u)
	cfg.CADirURL = *server
	client, err := lego.NewClient(cfg)
	if err != nil {
		return err
	}
	opts := dns01.NewOptions()
	opts.RecursiveNameservers = []string{*resolver}
	dns01.SetDefaultClient(dns01.NewClient(opts))
	provider, err := exec.NewDNSProvider() // EXEC_PATH
	if err != nil {
		return err
	}
	if err := client.Challenge.SetDNS01Provider(provider, dns01.DisableAuthoritativeNssPropagationRequirement()); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if u.reg, err = client.Registration.Register(ctx, registration.RegisterOptions{TermsOfServiceAgreed: true}); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	res, err := client.Certificate.Obtain(ctx, certificate.ObtainRequest{Domains: ds, Bundle: true, KeyType: certcrypto.EC256})
	if err != nil {
		return fmt.Errorf("obtain: %w", err)
	}
	if err := os.WriteFile(filepath.Join(*out, "cert.pem"), res.Certificate, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "key.pem"), res.PrivateKey, 0o600); err != nil {
		return err
	}
	fmt.Printf("issued %s for %s\n", res.CertURL, strings.Join(res.Domains, ","))
	return nil
}
