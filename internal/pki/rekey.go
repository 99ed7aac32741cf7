package pki

// rekey.go: a renewal with a new key (issue 14 item 1). The holder of a
// cluster certificate makes a new key and asks the issuing service (ddnrs
// ops ca serve) for a certificate for it, with the same name, addresses
// and scope. The request body (PEM, two blocks, in this order) proves
// both keys:
//
//	CERTIFICATE REQUEST        a PKCS #10 request signed with the new key
//	                           (possession); only its public key is used
//	DDNRS RENEWAL SIGNATURE    the current key's signature over
//	                           RekeyMessage(current certificate, request DER)
//
// and the client authenticates the TLS connection with the current
// certificate, whose public key must verify the second block: a request
// signed only by the new key is refused. The current certificate is not
// revoked by the renewal; it stays valid until it ends or is revoked.
// docs/architecture.md, "Trust per group and role".

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// RekeySigPEMType is the PEM type of the current key's signature in a
// renewal with a new key.
const RekeySigPEMType = "DDNRS RENEWAL SIGNATURE"

// ErrBadRekey is returned by ParseRekey when a renewal with a new key is
// malformed, its request's signature (the new key's) does not verify, the
// current key's signature does not verify against the current
// certificate, or the new key is the current one.
var ErrBadRekey = errors.New("bad renewal with a new key")

// RekeyMessage is what the current key signs: a context line, the
// current certificate's serial (hex) and the SHA-256 of the request's DER,
// so the signature names this request for this certificate only.
func RekeyMessage(cur *x509.Certificate, csrDER []byte) []byte {
	sum := sha256.Sum256(csrDER)
	return fmt.Appendf(nil, "ddnrs renewal with a new key v1\nserial %x\nrequest %x\n", cur.SerialNumber, sum)
}

// sigAlgorithm is the x509 algorithm a key of pub's type signs with here.
func sigAlgorithm(pub crypto.PublicKey) (x509.SignatureAlgorithm, crypto.Hash, error) {
	switch pub.(type) {
	case *ecdsa.PublicKey:
		return x509.ECDSAWithSHA256, crypto.SHA256, nil
	case ed25519.PublicKey:
		return x509.PureEd25519, 0, nil
	case *rsa.PublicKey:
		return x509.SHA256WithRSA, crypto.SHA256, nil
	}
	return 0, 0, fmt.Errorf("%w: key type %T", ErrBadRekey, pub)
}

// SignRekey signs msg with key as ParseRekey checks it.
func SignRekey(key crypto.Signer, msg []byte) ([]byte, error) {
	_, h, err := sigAlgorithm(key.Public())
	if err != nil {
		return nil, err
	}
	if h == 0 {
		return key.Sign(rand.Reader, msg, crypto.Hash(0))
	}
	d := h.New()
	d.Write(msg)
	return key.Sign(rand.Reader, d.Sum(nil), h)
}

// NewRekey makes a new key (ECDSA P-256) and the body of a renewal of
// cur (whose key is curKey) for it. The new key stays with the caller.
func NewRekey(cur *x509.Certificate, curKey crypto.Signer) (crypto.Signer, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating the new key: %w", err)
	}
	body, err := RekeyBody(cur, curKey, key)
	return key, body, err
}

// RekeyBody is the body of a renewal of cur for newKey, the request
// signed by newKey and the message by curKey. (A test signs with the
// wrong keys through it.)
func RekeyBody(cur *x509.Certificate, curKey, newKey crypto.Signer) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: cur.Subject}, newKey)
	if err != nil {
		return nil, fmt.Errorf("making the renewal request: %w", err)
	}
	sig, err := SignRekey(curKey, RekeyMessage(cur, der))
	if err != nil {
		return nil, fmt.Errorf("signing the renewal with the current key: %w", err)
	}
	return append(pem.EncodeToMemory(&pem.Block{Type: RequestPEMType, Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: RekeySigPEMType, Bytes: sig})...), nil
}

// ParseRekey reads a renewal body for the current certificate cur (the
// one the client authenticated with) and returns the new public key,
// once the request's signature (the new key's) and the current key's
// signature over RekeyMessage verify. Errors wrap ErrBadRekey.
func ParseRekey(body []byte, cur *x509.Certificate) (crypto.PublicKey, error) {
	reqBlk, rest := pem.Decode(body)
	if reqBlk == nil || reqBlk.Type != RequestPEMType {
		return nil, fmt.Errorf("%w: want a PEM %q block first", ErrBadRekey, RequestPEMType)
	}
	sigBlk, rest := pem.Decode(rest)
	if sigBlk == nil || sigBlk.Type != RekeySigPEMType {
		return nil, fmt.Errorf("%w: no PEM %q block after the request: the current key must sign the renewal", ErrBadRekey, RekeySigPEMType)
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return nil, fmt.Errorf("%w: bytes after the signature", ErrBadRekey)
	}
	csr, err := x509.ParseCertificateRequest(reqBlk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRekey, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: the new key's signature on the request does not verify: %v", ErrBadRekey, err)
	}
	if _, err := x509.MarshalPKIXPublicKey(csr.PublicKey); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRekey, err)
	}
	if _, ok := csr.PublicKey.(*ecdsa.PublicKey); !ok {
		return nil, fmt.Errorf("%w: new key type %T, want ECDSA P-256", ErrBadRekey, csr.PublicKey)
	}
	algo, _, err := sigAlgorithm(cur.PublicKey)
	if err != nil {
		return nil, err
	}
	if err := cur.CheckSignature(algo, RekeyMessage(cur, reqBlk.Bytes), sigBlk.Bytes); err != nil {
		return nil, fmt.Errorf("%w: the current certificate's key did not sign this renewal (%v): a request signed only by the new key is refused", ErrBadRekey, err)
	}
	if pub, ok := csr.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); ok && pub.Equal(cur.PublicKey) {
		return nil, fmt.Errorf("%w: the new key is the current one (renew without a body to keep it)", ErrBadRekey)
	}
	return csr.PublicKey, nil
}
